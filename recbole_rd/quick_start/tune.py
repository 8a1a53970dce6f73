"""Hyper-parameter search with RecBole's HyperTuning (hyperopt).

    python -m recbole_rd.quick_start.tune --model=CaserRD --dataset=foursquare \
        --params_file=properties/hyper/CaserRD.hyper --algo=random --max_evals=20

For a distilled student without ``teacher_checkpoint`` the teacher is trained once,
before the search, and shared by every trial. A trial whose training diverges (NaN loss) or
whose values are refused is reported as failed and the search goes on. Results go to
``--output_file``, also when the search ends on an error.
"""

import argparse
import sys
from logging import getLogger

from recbole.trainer import HyperTuning

from recbole_rd.config_values import command_line_texts
from recbole_rd.distill.teacher import load_teacher
from recbole_rd.model.abstract_recommender import is_student
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start.cli import command_errors
from recbole_rd.quick_start.quick_start import prepare, run_recbole_rd
from recbole_rd.quick_start.teacher_plan import ensure_teacher
from recbole_rd.utils import ConfigError


def objective(model, dataset, base_config):
    """A RecBole-style objective: ``(config_dict, config_file_list) -> result dict``."""

    def run(config_dict, config_file_list=None):
        result = run_recbole_rd(model, dataset, config_file_list, {**base_config, **config_dict})
        return {key: result[key] for key in ("best_valid_score", "valid_score_bigger", "best_valid_result",
                                             "test_result")} | {"model": model}

    return run


class Search(HyperTuning):
    """RecBole's HyperTuning, but a trial that diverges (NaN loss) or whose values are refused
    (:class:`ConfigError`, e.g. a combination the method does not allow) is recorded as failed and
    the search goes on; failed trials do not count towards early stopping."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed = {}  # params -> why the trial failed
        self.early_stop_fn = finished_trials_only(self.early_stop_fn)

    def trial(self, params):
        import hyperopt

        try:
            return super().trial(params)
        except ConfigError as err:  # TrainingDiverged included
            getLogger().warning(f"trial {self.params2str(params)} failed: {err}")
            self.failed[self.params2str(params)] = str(err)
            self.params2result[self.params2str(params)] = {"best_valid_result": {"failed": str(err)},
                                                           "test_result": {}}
            return {"loss": sys.float_info.max, "status": hyperopt.STATUS_FAIL}


def finished_trials_only(stop_fn):
    """hyperopt's early stopping ``stop_fn`` fed with finished trials only: a failed trial is no
    sign that the search stopped improving (RecBole's ``no_progress_loss`` would count it)."""
    import hyperopt

    def stop(trials, *state):
        if trials.trials[-1]["result"]["status"] == hyperopt.STATUS_FAIL:
            return False, list(state)
        return stop_fn(trials, *state)

    return stop


def check_not_on_command_line(searched, argv):
    """Refuse ``--key=value`` on the command line for a searched key: RecBole's command line wins
    over each trial's value, so every trial would run with the same one."""
    given = sorted(command_line_texts(argv).keys() & set(searched))
    if given:
        raise ConfigError(f"{', '.join('--' + key for key in given)} on the command line would override every "
                          f"trial's value of {', '.join(given)} (RecBole's command line wins); drop "
                          f"{'it' if len(given) == 1 else 'them'} or remove {'it' if len(given) == 1 else 'them'} "
                          f"from the params file")


def tune(model, dataset, params_file, config_file_list=None, config_dict=None, algo="exhaustive",
         max_evals=100, early_stop=10, output_file=None):
    """Search ``params_file`` (RecBole's ``name type values`` lines); return the :class:`Search`."""
    base = dict(config_dict or {})
    search = Search(objective(model, dataset, base), params_file=params_file, fixed_config_file_list=config_file_list,
                    algo=algo, max_evals=max_evals, early_stop=early_stop)
    check_not_on_command_line(search.space, sys.argv[1:])
    if is_student(get_model(model)):
        config, train, valid, test = prepare(model, dataset, config_file_list, base)
        if config["teacher_checkpoint"]:  # a teacher of other data or split: refused once, not in every trial
            load_teacher(config, train._dataset, config["teacher_checkpoint"])
        base["teacher_checkpoint"] = ensure_teacher(config, train, valid, test)[0]
    from hyperopt.exceptions import AllTrialsFailed

    try:
        search.run()
    except AllTrialsFailed:
        pass  # said below, after what was tried is written
    finally:  # whatever ends the search (an error, Ctrl-C), the finished trials are written
        if output_file and search.params2result:
            search.export_result(output_file=output_file)
    if search.best_params is None:
        raise ConfigError(f"no trial finished ({len(search.failed)} failed): "
                          f"{'; '.join(sorted(set(search.failed.values())))}")
    return search


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="CaserRD")
    parser.add_argument("--dataset", default="foursquare-sample")
    parser.add_argument("--params_file", default=None, help="search space (default properties/hyper/<model>.hyper)")
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--algo", default="exhaustive", choices=["exhaustive", "random", "bayes"])
    parser.add_argument("--max_evals", type=int, default=100)
    parser.add_argument("--output_file", default="hyper_result.txt")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    from recbole_rd.utils import properties_dir

    params = args.params_file or str(properties_dir() / "hyper" / f"{args.model}.hyper")
    files = args.config_files.split(" ") if args.config_files else None
    with command_errors():
        search = tune(args.model, args.dataset, params, files, algo=args.algo, max_evals=args.max_evals,
                      output_file=args.output_file)
    for params, reason in search.failed.items():
        print(f"failed: {params}: {reason}")
    print(f"best params: {search.best_params}")
    print(f"best result: {search.params2result[search.params2str(search.best_params)]}")


if __name__ == "__main__":
    main()
