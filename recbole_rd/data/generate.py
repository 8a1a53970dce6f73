"""Write the embedded ``foursquare-sample`` (or a sample of another size): ``python -m recbole_rd.data.generate``.

The generator itself lives in :mod:`recbole_rd.data.sample` (imported by the dataset code,
so that running this module does not import it twice)."""

import argparse

from recbole_rd.data.sample import SAMPLE_NAME, generate_checkins, write_atomic_inter, write_sample

__all__ = ["SAMPLE_NAME", "generate_checkins", "write_atomic_inter", "write_sample", "main"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=f"dataset/{SAMPLE_NAME}", help="output folder")
    parser.add_argument("--name", default=SAMPLE_NAME)
    parser.add_argument("--users", type=int, default=1200)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2018)
    args = parser.parse_args(argv)
    path = write_sample(args.out, args.name, n_users=args.users, n_items=args.items, seed=args.seed)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
