"""Command line: RecBole's flags (--model, --dataset, --config_files, --key=value)."""

import argparse
import sys

from recbole_rd.checkpoint import CheckpointError

# ConfigError, DatasetError and ConvertError are ValueErrors, as are RecBole's config errors
USER_ERRORS = (ValueError, CheckpointError)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Train and test a RecBole or recbole_rd model. Any other --key=value "
                    "overrides that RecBole config key (e.g. --epochs=20 --alpha=0.5).")
    parser.add_argument("--model", "-m", default="CaserRD", help="model name (default CaserRD)")
    parser.add_argument("--dataset", "-d", default="foursquare-sample", help="dataset name")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files")
    parser.add_argument("--compare", action="store_true",
                        help="train teacher, student alone and RD student of --model and print a table")
    parser.add_argument("--baselines", default="", help="with --compare: comma-separated RecBole models")
    parser.add_argument("--results_dir", default="results", help="with --compare: output folder")
    parser.add_argument("--seeds", default="2020", help="with --compare: comma-separated seeds")
    parser.add_argument("--nproc", type=int, default=1, help="DDP: processes on this node (default 1)")
    parser.add_argument("--world_size", type=int, default=-1, help="DDP: processes on all nodes (default nproc)")
    parser.add_argument("--ip", default="localhost", help="DDP: address of the rank-0 node")
    parser.add_argument("--port", default="5678", help="DDP: free port on the rank-0 node")
    parser.add_argument("--group_offset", type=int, default=0, help="DDP: rank of this node's first process")
    return parser.parse_known_args(argv)[0]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    files = args.config_files.strip().split(" ") if args.config_files else None
    try:
        if args.compare and (args.nproc > 1 or args.world_size > 0):
            raise ValueError("--compare runs in one process; drop --nproc/--world_size "
                             "(train a single model in DDP mode instead)")
        if args.compare:
            from recbole_rd.quick_start.compare import compare

            compare(args.model, args.dataset, files, baselines=[b for b in args.baselines.split(",") if b],
                    results_dir=args.results_dir, seeds=[int(s) for s in args.seeds.split(",")])
        else:
            from recbole_rd.quick_start import run

            result = run(args.model, args.dataset, files, nproc=args.nproc, world_size=args.world_size,
                         ip=args.ip, port=args.port, group_offset=args.group_offset)
            if result is not None:  # None on nodes without rank 0
                print(f"test result: {dict(result['test_result'])}")
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
