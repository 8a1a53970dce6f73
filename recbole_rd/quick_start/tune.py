"""Hyper-parameter search with RecBole's HyperTuning (hyperopt).

    python -m recbole_rd.quick_start.tune --model=CaserRD --dataset=foursquare \
        --params_file=properties/hyper/CaserRD.hyper --algo=random --max_evals=20

For a distilled student without ``teacher_checkpoint`` the teacher is trained once,
before the search, and shared by every trial. Results go to ``--output_file``.
"""

import argparse
import sys

from recbole_rd.quick_start.cli import command_errors
from recbole_rd.quick_start.quick_start import ensure_teacher, prepare, run_recbole_rd
from recbole_rd.utils import get_model


def objective(model, dataset, base_config):
    """A RecBole-style objective: ``(config_dict, config_file_list) -> result dict``."""

    def run(config_dict, config_file_list=None):
        result = run_recbole_rd(model, dataset, config_file_list, {**base_config, **config_dict})
        return {key: result[key] for key in ("best_valid_score", "valid_score_bigger", "best_valid_result",
                                             "test_result")} | {"model": model}

    return run


def tune(model, dataset, params_file, config_file_list=None, config_dict=None, algo="exhaustive",
         max_evals=100, early_stop=10, output_file=None):
    """Search ``params_file`` (RecBole's ``name type values`` lines); return the HyperTuning object."""
    from recbole.trainer import HyperTuning

    base = dict(config_dict or {})
    if getattr(get_model(model), "teacher_model", None) and not base.get("teacher_checkpoint"):
        base["teacher_checkpoint"] = ensure_teacher(*prepare(model, dataset, config_file_list, base))[0]
    search = HyperTuning(objective(model, dataset, base), params_file=params_file,
                         fixed_config_file_list=config_file_list, algo=algo, max_evals=max_evals,
                         early_stop=early_stop)
    search.run()
    if output_file:
        search.export_result(output_file=output_file)
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
    print(f"best params: {search.best_params}")
    print(f"best result: {search.params2result[search.params2str(search.best_params)]}")


if __name__ == "__main__":
    main()
