"""Convert raw check-in dumps into RecBole atomic files ``dataset/NAME/NAME.inter``.

    python -m recbole_rd.data.convert FORMAT INPUT --dataset NAME [--out dataset] [--delimiter TAB]

Formats: ``snap-gowalla`` (loc-gowalla_totalCheckins.txt), ``tsmc2014``
(dataset_TSMC2014_NYC.txt / _TKY.txt), ``foursquare-global`` (user, venue, UTC
time, offset), ``generic`` (user item timestamp, header and delimiter detected),
``caser-text`` (the Caser/RD ``user item rating`` files, line order = time order).
Input is streamed; the output appears only when complete (atomic rename).

Timestamps are written exactly (integers as integers, decimals in full, never
an exponent). The ``generic`` time column may hold, one kind per file:
plain numbers (Unix seconds, minutes since the start, ...: written as they are),
Unix milliseconds (any value with ``|t| >= 1e11``: written as seconds,
``1333457009123`` -> ``1333457009.123``; 1e11 s would be the year 5138, 1e11 ms
is March 1973), or ISO-8601 date-times (``2012-04-03T18:00:09Z``,
``2012-04-03 18:00:09.5+02:00``; UTC when no zone is given) written as Unix
seconds. A file mixing these kinds is refused: the order between them is unknown.
"""

import argparse
import re
import sys
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation
from pathlib import Path

from recbole_rd.data.sample import HEADER
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


MILLISECONDS_FROM = Decimal("1e11")  # |t| >= 1e11 is read as Unix milliseconds
PLAIN_NUMBER, MILLISECONDS, ISO_TIME = TIME_KINDS = (
    "a number below 1e11 (kept as it is)", "Unix milliseconds (a number >= 1e11)", "an ISO-8601 date-time")
_EXACT = Context(prec=64, traps=[Inexact, InvalidOperation])  # raise rather than round
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
                  r"\s*(Z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_seconds(text):
    """Unix seconds (exact ``Decimal``) of an ISO-8601 date-time, UTC when it names
    no zone; None when ``text`` is not one."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    *fields, second, fraction, zone = match.groups()
    zone = "Z" if zone in (None, "Z", "z") else zone.replace(":", "")
    offset = timedelta(0) if zone == "Z" else int(zone[0] + "1") * timedelta(
        hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
    try:
        moment = datetime(*map(int, fields), int(second or 0), tzinfo=timezone(offset))
    except ValueError as err:
        raise ValueError(f"timestamp {text!r} is not a valid date-time ({err})") from None
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return _EXACT.add(Decimal(whole), Decimal("0." + fraction)) if fraction else Decimal(whole)


def parse_time(text):
    """``(kind, seconds)`` of a timestamp: kind is one of :data:`TIME_KINDS`, seconds an
    exact ``Decimal`` (milliseconds divided by 1000; a plain number as it is).
    ValueError if ``text`` is none of them."""
    iso = iso_seconds(text)
    if iso is not None:
        return ISO_TIME, iso
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValueError(f"timestamp {text!r} is neither a number nor an ISO-8601 date-time")
    if abs(value) >= MILLISECONDS_FROM:
        try:
            return MILLISECONDS, _EXACT.scaleb(value, -3)
        except ArithmeticError:
            raise ValueError(f"timestamp {text!r} has more than {_EXACT.prec} digits") from None
    return PLAIN_NUMBER, value


def time_text(value):
    """Exact decimal text of a timestamp, never an exponent: 5743, 15.5, 1333457009.123."""
    if isinstance(value, int):
        return str(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(_EXACT), "f")


class Generic:
    """``user item timestamp`` with an optional header; delimiter given or detected.
    The time column must hold one kind of timestamp (see :func:`parse_time`)."""

    def __init__(self, delimiter=None):
        self.delimiter = delimiter
        self.detected = delimiter is not None
        self.kind = self.kind_line = None

    def __call__(self, line, lineno):
        if not self.detected:
            self.delimiter, self.detected = detect_delimiter(line), True
        user, item, time = (p.strip() for p in _fields(line, 3, self.delimiter)[:3])
        try:
            kind, seconds = parse_time(time)
        except ValueError:
            if lineno == 1:
                return None  # header
            raise
        if self.kind is None:
            self.kind, self.kind_line = kind, lineno
        elif kind != self.kind:
            raise ValueError(f"timestamp {time!r} is {kind}, but line {self.kind_line}'s is {self.kind}; "
                             f"one time column must use one format (mixed kinds would mis-order the "
                             f"sequences): convert the column to one unit first")
        return user, item, seconds


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
                    f.write(f"{user}\t{item}\t{time_text(time)}\n")
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
