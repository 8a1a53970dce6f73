"""Reading and checking a file of a teacher's rankings (config key ``teacher_rankings``) into
:class:`RankingLists`: columns, numbers, tokens known to the dataset, no item or rank twice in a
list. What the lists become for a student is :mod:`recbole_rd.distill.rankings_file`'s.

The format (docs/teacher-rankings.md): one line per ranked item, columns ``user_id, item_id, rank``
and optionally ``score`` and ``timestamp``; CSV, or Parquet when pyarrow is installed.
"""

import importlib.util
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_rd.errors import ConfigError, DatasetError

KEY, DROP_KEY = "teacher_rankings", "teacher_rankings_drop_unknown"
REQUIRED = ("user_id", "item_id", "rank")
OPTIONAL = ("score", "timestamp")
PARQUET_SUFFIXES = (".parquet", ".pq")
LINE = "\0line"  # the column holding each row's place in the file (a name no file uses)
FORMAT_HELP = "see docs/teacher-rankings.md"


@dataclass
class RankingLists:
    """The file's lists, best first: ``items [lists, M]`` internal item ids, 0-padded to the longest
    list; ``scores`` alike (float32, NaN-padded; None without a score column); each list's ``users``
    (internal ids, ``[lists]``), ``timestamps`` (float32 as RecBole stores them; None for one list
    per user), ``tokens`` (user tokens) and ``lines`` (the place of its first item in the file)."""

    items: torch.Tensor
    scores: torch.Tensor
    users: np.ndarray
    timestamps: np.ndarray
    tokens: np.ndarray
    lines: np.ndarray
    file: str  # "teacher_rankings FILE", for messages
    place: str  # how the file's places are named: "line" (CSV) or "row" (Parquet)

    @property
    def per_instance(self):
        return self.timestamps is not None

    def describe(self, index):
        """``teacher_rankings FILE line L: the list of user 'u' [at timestamp t]``, for messages."""
        at = f" at timestamp {timestamp_text(self.timestamps[index])}" if self.per_instance else ""
        return f"{self.file} {self.place} {self.lines[index]}: the list of user {self.tokens[index]!r}{at}"


def timestamp_text(value):
    """A timestamp as a message shows it: all its digits (1333476096, not 1.33348e+09)."""
    return f"{float(value):.15g}"


def read_rankings(path, dataset, drop_unknown=False):
    """The :class:`RankingLists` of file ``path``, its tokens mapped to ``dataset``'s ids.

    Refused with a :class:`DatasetError` naming the file's line: missing or unexpected columns, a
    rank that is no integer >= 1, a score or timestamp that is no finite number, user or item tokens
    the dataset does not know (dropped with a warning when ``drop_unknown``), an item or a rank twice
    in one list. A missing file, or Parquet without pyarrow: :class:`ConfigError`.
    """
    table, place = read_table(path)
    source = f"{KEY} {path} {place}"
    check_columns(table, f"{KEY} {path}")
    ranks = checked_numbers(table, "rank", source, integer=True)
    frame = pd.DataFrame({"rank": ranks, LINE: table[LINE].to_numpy()})
    for column in OPTIONAL:
        if column in table:
            frame[column] = checked_numbers(table, column, source).astype(np.float32)
    frame["user"], frame["item"] = known_ids(table, dataset, source, drop_unknown)
    frame["token"] = table["user_id"].to_numpy()
    frame = frame[(frame["user"] > 0) & (frame["item"] > 0)]
    if frame.empty:
        after = " once the unknown tokens are dropped" if drop_unknown else ""
        raise DatasetError(f"{KEY} {path}: the file holds no ranked item{after}")
    keys = ["user", "timestamp"] if "timestamp" in frame else ["user"]
    frame = frame.sort_values([*keys, "rank"], kind="stable")
    refuse_twice_in_a_list(frame, keys, "item", source, dataset)
    refuse_twice_in_a_list(frame, keys, "rank", source, dataset)
    return padded_lists(frame, keys, f"{KEY} {path}", place)


def existing_file(path):
    """``path`` as a Path; a :class:`ConfigError` when no such file exists."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{KEY}: no file {path}; give the path of a CSV or Parquet file of the teacher's "
                          f"rankings ({FORMAT_HELP})")
    return path


def read_table(path):
    """``(table of strings with LINE, 'line' or 'row')``: the file's rows and how places are named."""
    path = existing_file(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        if importlib.util.find_spec("pyarrow") is None:
            raise ConfigError(f"{KEY}: {path} is a Parquet file, and reading Parquet needs pyarrow: "
                              f"pip install pyarrow (or write the rankings as CSV)")
        table = pd.read_parquet(path)
        table[LINE] = np.arange(1, len(table) + 1)
        return table, "row"
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatasetError(f"{KEY}: {path} is not a readable CSV file ({err}); {FORMAT_HELP}") from None
    table[LINE] = np.arange(2, len(table) + 2)  # line 1 is the header
    blank = (table.drop(columns=LINE) == "").all(axis=1)
    return table[~blank], "line"


def check_columns(table, source):
    columns = [column for column in table.columns if column != LINE]
    missing = [column for column in REQUIRED if column not in columns]
    unexpected = [column for column in columns if column not in REQUIRED + OPTIONAL]
    if missing or unexpected:
        problems = "; ".join(f"{what}: {', '.join(names)}" for what, names in
                             (("missing", missing), ("unexpected", unexpected)) if names)
        raise DatasetError(f"{source}: columns {', '.join(map(str, columns))} ({problems}); expected "
                           f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)} ({FORMAT_HELP})")


def checked_numbers(table, column, source, integer=False):
    """``table[column]`` as float64 numbers: finite, and integers >= 1 where ``integer``."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if integer:
        bad |= (values < 1) | (values != np.floor(values))
    if bad.any():
        first = int(bad.argmax())
        wanted = "an integer >= 1" if integer else "a finite number"
        raise DatasetError(f"{source} {table[LINE].iloc[first]}: {column} {table[column].iloc[first]!r} is not "
                           f"{wanted}" + (f" ({bad.sum()} such lines)" if bad.sum() > 1 else ""))
    return values


def known_ids(table, dataset, source, drop_unknown):
    """The internal ``(user ids, item ids)`` of the table's tokens, 0 where unknown (the padding token
    counts as unknown): refused, or with ``drop_unknown`` left to be dropped with a warning."""
    ids, unknown = [], []
    for column, field in (("user_id", dataset.uid_field), ("item_id", dataset.iid_field)):
        tokens = table[column].astype(str)
        mapped = tokens.map(dataset.field2token_id[field]).fillna(0).astype(np.int64).to_numpy()
        ids.append(mapped)
        unknown.append((column, tokens.to_numpy(), mapped == 0))
    counts = {column: int(bad.sum()) for column, _, bad in unknown}
    if sum(counts.values()):
        column, tokens, bad = next(entry for entry in unknown if counts[entry[0]])
        first = int(bad.argmax())
        summary = " and ".join(f"{count} lines name a {column[:4]} unknown to the dataset"
                               for column, count in counts.items() if count)
        if not drop_unknown:
            raise DatasetError(f"{source} {table[LINE].iloc[first]}: {column[:4]} {tokens[first]!r} is not in dataset "
                               f"{dataset.dataset_name} ({summary}); use this dataset's tokens (RecBole's filters may "
                               f"have removed some), or set {DROP_KEY}: True to drop those lines")
        getLogger().warning(f"{source}s: {summary}; dropped ({DROP_KEY}: True), e.g. {source} "
                            f"{table[LINE].iloc[first]}: {column[:4]} {tokens[first]!r}")
    return ids


def refuse_twice_in_a_list(frame, keys, column, source, dataset):
    """A :class:`DatasetError` naming both lines when one list holds an ``item`` or a ``rank`` twice."""
    twice = frame.duplicated([*keys, column])
    if not twice.any():
        return
    again = frame[twice].iloc[0]
    same = (frame[[*keys, column]] == again[[*keys, column]]).all(axis=1)
    lines = sorted(frame.loc[same, LINE].tolist())
    value = dataset.id2token(dataset.iid_field, int(again["item"])) if column == "item" else int(again["rank"])
    at = f" at timestamp {timestamp_text(again['timestamp'])}" if "timestamp" in keys else ""
    raise DatasetError(f"{source} {lines[1]}: {column} {value!r} is twice in the list of user {again['token']!r}{at} "
                       f"(lines {lines[0]} and {lines[1]}); each list ranks each item once, at distinct ranks")


def padded_lists(frame, keys, file, place):
    """:class:`RankingLists` of ``frame`` (sorted by ``keys`` and rank)."""
    group = frame.groupby(keys, sort=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    position = np.arange(len(frame)) - np.repeat(starts, np.diff(np.r_[starts, len(frame)]))
    shape = (len(starts), int(position.max()) + 1)
    items = torch.zeros(shape, dtype=torch.long)
    items[group, position] = torch.from_numpy(frame["item"].to_numpy())
    scores = None
    if "score" in frame:
        scores = torch.full(shape, float("nan"))
        scores[group, position] = torch.from_numpy(frame["score"].to_numpy())
    first = frame.iloc[starts]
    lines = frame.groupby(keys, sort=False)[LINE].min().to_numpy()
    timestamps = first["timestamp"].to_numpy() if "timestamp" in keys else None
    return RankingLists(items, scores, first["user"].to_numpy(), timestamps, first["token"].to_numpy(), lines,
                        file, place)
