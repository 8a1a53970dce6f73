"""Command line: RecBole's flags (--model, --dataset, --config_files, --key=value).

With ``--compare`` (see :mod:`recbole_rd.compare`): ``--distill_methods``,
``--teacher_model``, ``--baselines``, ``--seeds``, ``--results_dir``, ``--resume``, and per-row settings
``--<row or model>.<key>=value`` (e.g. ``--SASRec.epochs=50``). Every other ``--key=value`` is a config
setting: read once (:func:`command_line_settings`, as RecBole reads them) and given to RecBole's Config
as its ``config_dict``; ``sys.argv`` is never rewritten.

This package's own errors (:class:`recbole_rd.utils.RecBoleRDError`: a bad config, dataset,
checkpoint or conversion) end the command with one ``error: ...`` line on stderr and exit
status 2; anything else is a bug and keeps its traceback. A run ends with one summary line
(best epoch, test result, checkpoint, time): logged at ``state: INFO``, printed otherwise.
"""

import argparse
import shlex
import sys
from contextlib import contextmanager

from recbole_rd.config_values import check_values, command_line_texts, command_line_values
from recbole_rd.data.sources import default_inter_file, missing_dataset_message
from recbole_rd.errors import ConfigError, DatasetError, RecBoleRDError
from recbole_rd.quick_start.dependency_warnings import quiet_dependency_warnings

INTERRUPTED = 130  # exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it


def parse_args(argv):
    return build_parser().parse_known_args(argv)[0]


def build_parser():
    """The command line's own flags; every other ``--key=value`` is a config setting."""
    parser = argparse.ArgumentParser(
        description="Train and test a RecBole or recbole_rd model. Any other --key=value "
                    "overrides that RecBole config key (e.g. --epochs=20 --alpha=0.5).")
    parser.add_argument("--model", "-m", default="CaserRD", help="model name (default CaserRD)")
    parser.add_argument("--dataset", "-d", default="foursquare-sample", help="dataset name")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files")
    parser.add_argument("--compare", action="store_true",
                        help="train teacher, student alone and one distilled student per method of --model "
                             "(Caser, Fossil or a RecBole sequential model) and print a table")
    parser.add_argument("--distill_methods", default="rd",
                        help="with --compare: comma-separated methods, one row each "
                             "(rd, cd, rrd, dcd, rd-position, rd-hybrid, rd-discrepancy, cd-student)")
    parser.add_argument("--teacher_model", default=None,
                        help="teacher architecture of a distilled --model, also with --compare (default: "
                             "the student's base model at teacher size), e.g. SASRec")
    parser.add_argument("--baselines", default="", help="with --compare: comma-separated RecBole models")
    parser.add_argument("--results_dir", default="results", help="with --compare: output folder")
    parser.add_argument("--seeds", default="2020", help="with --compare: comma-separated seeds")
    parser.add_argument("--student_sizes", default="",
                        help="with --compare: a size sweep, comma-separated student widths (the width key of "
                             "--model: embedding_size, hidden_size), e.g. 8,16,32,50: S and every method at each")
    parser.add_argument("--resume", action="store_true",
                        help="with --compare: reuse the rows an earlier run of the same comparison finished "
                             "(kept under <results_dir>/<dataset>-<model>-compare-rows/)")
    parser.add_argument("--nproc", type=int, default=1, help="DDP: processes on this node (default 1)")
    parser.add_argument("--world_size", type=int, default=-1, help="DDP: processes on all nodes (default nproc)")
    parser.add_argument("--ip", default="localhost", help="DDP: address of the rank-0 node")
    parser.add_argument("--port", default="5678", help="DDP: free port on the rank-0 node")
    parser.add_argument("--group_offset", type=int, default=0, help="DDP: rank of this node's first process")
    return parser


# flags of --compare only, and the switches (flags without a value)
COMPARE_FLAGS = ("--compare", "--distill_methods", "--baselines", "--results_dir", "--seeds", "--resume",
                 "--student_sizes")
SWITCHES = ("--compare", "--resume")


def recbole_argv(argv):
    """``argv`` without :data:`COMPARE_FLAGS` (and their values, also when given as a separate word)."""
    kept, value_follows = [], False
    for arg in argv:
        if value_follows:
            value_follows = False
            continue
        name = arg.split("=", 1)[0]
        if name in COMPARE_FLAGS:
            value_follows = "=" not in arg and name not in SWITCHES
            continue
        kept.append(arg)
    return kept


def command_line_settings(argv):
    """The config settings of the command line ``argv`` (its words after the script): every ``--key=value``
    but the compare flags and the model, dataset and config files, read as RecBole reads its command line.
    They reach RecBole's Config as its ``config_dict`` (read once, here; ``sys.argv`` is never rewritten)."""
    values = command_line_values(recbole_argv(argv))
    return {key: value for key, value in values.items() if key not in ("model", "dataset", "config_files")}


def parse_seeds(text):
    """``[2020, 2021]`` of ``"2020,2021"``."""
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds: '{text}' is invalid; allowed: comma-separated integers, "
                          f"e.g. --seeds=2020,2021") from None


def check_before_loading(args, argv):
    """What the command line refuses before torch and RecBole load (a typo answers at once): a numeric
    ``--key=value`` of the wrong type or range, a dataset missing from RecBole's default ``data_path``.
    The full config is checked again, whatever its source, when it is built."""
    values = command_line_values(argv)
    check_values(values)
    path = default_inter_file(args.dataset)
    located_elsewhere = args.config_files or {"data_path", "benchmark_filename"} & values.keys()
    if path is not None and not located_elsewhere and not path.is_file():
        raise DatasetError(missing_dataset_message(args.dataset, path))


def resume_command(command, flags):
    """``command`` (the words of a command line) with ``flags`` set: ``--key=value`` words replaced or
    added, ``True`` values as bare switches."""
    words = [word for word in command if word.split("=", 1)[0].lstrip("-") not in flags]
    words += [f"--{key}" if value is True else f"--{key}={value}" for key, value in flags.items()]
    return shlex.join(["python", *words])


def interrupted_message(stop, args, command):
    """The line closing a command stopped by Ctrl-C: what was kept and the command that resumes."""
    if args.compare:
        flags, kept = {"resume": True}, "the rows that finished are kept"
    else:
        flags, kept = getattr(stop, "resume_flags", {}), getattr(stop, "what", "")
    said = f"interrupted: {kept}" if kept else "interrupted"
    if not flags:
        return f"{said}; run the command again to start over"
    return f"{said}; resume with: {resume_command(command, flags)}"


def run_command(args, command=None):
    """Run what ``args`` ask for (``command``: the command line, recorded by --compare); this
    package's errors propagate."""
    files = args.config_files.strip().split(" ") if args.config_files else None
    settings = command_line_settings((command or [])[1:])
    if args.compare and (args.nproc > 1 or args.world_size > 0):
        raise ConfigError("--compare runs in one process; drop --nproc/--world_size "
                          "(train a single model in DDP mode instead)")
    if args.compare and "seed" in command_line_texts((command or [])[1:]):
        raise ConfigError("--seed with --compare would override every seed of --seeds (RecBole's command line "
                          "wins over the comparison's per-seed setting); give the seeds as --seeds=2020,2021")
    if args.compare:
        from recbole_rd.compare import CompareSpec, run_compare

        run_compare(CompareSpec.from_args(args, settings, argv=command))
        return
    from recbole_rd.quick_start import run

    result = run(args.model, args.dataset, files, settings, nproc=args.nproc, world_size=args.world_size,
                 ip=args.ip, port=args.port, group_offset=args.group_offset, reads_command_line=False)
    if result is not None and not result.get("summary_logged"):  # None on nodes without rank 0
        print(result["summary"])


@contextmanager
def command_errors(on_interrupt=None):
    """An entry point's body: dependency warnings silenced; this package's errors become one
    ``error:`` line and exit status 2 (anything else keeps its traceback); Ctrl-C prints
    ``on_interrupt(stop)`` (when given) and exits with status 130."""
    quiet_dependency_warnings()
    try:
        yield
    except RecBoleRDError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as stop:
        if on_interrupt is None:
            raise
        print(on_interrupt(stop), file=sys.stderr)
        sys.exit(INTERRUPTED)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = [sys.argv[0], *argv]
    with command_errors(lambda stop: interrupted_message(stop, args, command)):
        check_before_loading(args, argv)
        run_command(args, command)


if __name__ == "__main__":
    main()
