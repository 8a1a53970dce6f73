"""Convert raw check-in dumps into RecBole atomic files ``dataset/NAME/NAME.inter``.

    python -m recbole_rd.data.convert FORMAT INPUT --dataset NAME [--out dataset] [--delimiter TAB]

Formats: ``snap-gowalla`` (loc-gowalla_totalCheckins.txt), ``tsmc2014``
(dataset_TSMC2014_NYC.txt / _TKY.txt), ``foursquare-global`` (user, venue, UTC
time, offset), ``generic`` (user item timestamp, header and delimiter detected),
``caser-text`` (the Caser/RD ``user item rating`` files, line order = time order).
Input is streamed; the output appears only when complete (atomic rename).
"""

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from recbole_rd.data.generate import HEADER
from recbole_rd.utils import RecBoleRDError, atomic_write


class ConvertError(RecBoleRDError, ValueError):
    """Bad input; the message names the file, the line and the problem."""


def _epoch(text, fmt):
    return int(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp())


def _fields(line, n, delimiter=None):
    parts = line.rstrip("\r\n").split(delimiter)
    if len(parts) < n:
        raise ValueError(f"expected at least {n} columns, found {len(parts)}")
    return parts


def _number(text, what):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def snap_gowalla(line, lineno):
    user, time, _lat, _lon, place = _fields(line, 5, "\t")[:5]
    return user, place, _epoch(time, "%Y-%m-%dT%H:%M:%SZ")


def tsmc2014(line, lineno):
    parts = _fields(line, 8, "\t")
    return parts[0], parts[1], _epoch(parts[7], "%a %b %d %H:%M:%S +0000 %Y")


def foursquare_global(line, lineno):
    parts = _fields(line, 3, "\t")
    return parts[0], parts[1], _epoch(parts[2], "%a %b %d %H:%M:%S +0000 %Y")


def caser_text(line, lineno):
    user, item = _fields(line, 2)[:2]
    return user, item, lineno


def detect_delimiter(line):
    for delimiter in ("\t", ",", ";", "|"):
        if delimiter in line:
            return delimiter
    return None  # any whitespace


class Generic:
    """``user item timestamp`` with an optional header; delimiter given or detected."""

    def __init__(self, delimiter=None):
        self.delimiter = delimiter
        self.detected = delimiter is not None

    def __call__(self, line, lineno):
        if not self.detected:
            self.delimiter, self.detected = detect_delimiter(line), True
        user, item, time = (p.strip() for p in _fields(line, 3, self.delimiter)[:3])
        try:
            return user, item, float(time)
        except ValueError:
            if lineno == 1:
                return None  # header
            raise ValueError(f"timestamp {time!r} is not a number") from None


FORMATS = {
    "snap-gowalla": (lambda d: snap_gowalla, "utf-8"),
    "tsmc2014": (lambda d: tsmc2014, "latin-1"),
    "foursquare-global": (lambda d: foursquare_global, "latin-1"),
    "generic": (Generic, "utf-8"),
    "caser-text": (lambda d: caser_text, "utf-8"),
}


def convert(fmt, input_path, dataset, out_dir="dataset", delimiter=None):
    """Convert ``input_path`` to ``out_dir/dataset/dataset.inter``; return (path, rows)."""
    if fmt not in FORMATS:
        raise ConvertError(f"unknown format '{fmt}'; allowed: {sorted(FORMATS)}")
    make_parser, encoding = FORMATS[fmt]
    parse = make_parser(delimiter)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise ConvertError(f"{input_path}: file not found")
    out = Path(out_dir) / dataset / f"{dataset}.inter"
    rows = 0

    def write(f):
        nonlocal rows
        f.write(HEADER)
        with open(input_path, encoding=encoding, errors="strict") as src:
            for lineno, line in enumerate(src, 1):
                if not line.strip():
                    continue
                try:
                    row = parse(line, lineno)
                except ValueError as err:
                    raise ConvertError(f"{input_path}, line {lineno}: {err} (format {fmt})") from None
                if row is not None:
                    user, item, time = row
                    if not user or not item:
                        raise ConvertError(f"{input_path}, line {lineno}: empty user or item id")
                    f.write(f"{user}\t{item}\t{time:g}\n" if isinstance(time, float) else f"{user}\t{item}\t{time}\n")
                    rows += 1
        if rows == 0:
            raise ConvertError(f"{input_path}: no interactions found (empty file?)")

    try:
        atomic_write(out, write, mode="w")
    except UnicodeDecodeError as err:
        raise ConvertError(f"{input_path}: not {encoding} text ({err.reason} at byte {err.start})") from None
    return out, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", choices=sorted(FORMATS))
    parser.add_argument("input")
    parser.add_argument("--dataset", required=True, help="dataset name (output file NAME.inter)")
    parser.add_argument("--out", default="dataset", help="data_path folder (default: dataset)")
    parser.add_argument("--delimiter", default=None, help="generic format only: column delimiter")
    args = parser.parse_args(argv)
    delimiter = {"TAB": "\t", "\\t": "\t"}.get(args.delimiter, args.delimiter)
    try:
        path, rows = convert(args.format, args.input, args.dataset, args.out, delimiter)
    except ConvertError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {rows} interactions to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
