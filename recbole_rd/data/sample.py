"""A seeded generator of check-in-like sequences (the embedded ``foursquare-sample``).

Item popularity is long-tailed (Zipf) and sequences have real order: each item
has a few likely successors and every user a home region of the catalogue, so a
sequential model beats popularity on it. Written by ``python -m recbole_rd.data.generate``.
"""

from pathlib import Path

import numpy as np

from recbole_rd.data.sources import SAMPLE_NAME
from recbole_rd.utils import atomic_write

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def generate_checkins(n_users=1200, n_items=500, min_len=15, max_len=60, seed=2018,
                      successors=2, p_follow=0.7, p_region=0.2, region_size=40):
    """Rows ``(user, item, timestamp)`` as three int arrays, sorted by user then time."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    cdf = np.cumsum(popularity / popularity.sum())

    def popular():
        return int(min(np.searchsorted(cdf, rng.random()), n_items - 1))
    succ = rng.integers(0, n_items, size=(n_items, successors))
    users, items, times = [], [], []
    for u in range(n_users):
        length = int(rng.integers(min_len, max_len + 1))
        region = rng.integers(0, n_items - region_size)
        item = popular()
        t = int(rng.integers(0, 10_000))
        for _ in range(length):
            users.append(u)
            items.append(item)
            times.append(t)
            t += int(rng.integers(30, 3000))
            draw = rng.random()
            if draw < p_follow:
                item = int(succ[item, rng.integers(successors)])
            elif draw < p_follow + p_region:
                item = int(region + rng.integers(region_size))
            else:
                item = popular()
    return np.array(users), np.array(items), np.array(times)


def write_atomic_inter(path, users, items, times):
    """Write a RecBole ``.inter`` file (user_id, item_id, timestamp) atomically."""
    def write(f):
        f.write(HEADER)
        for u, i, t in zip(users, items, times):
            f.write(f"{u}\t{i}\t{t}\n")
    atomic_write(path, write, mode="w")


def write_sample(data_path, name=SAMPLE_NAME, **kwargs):
    """Generate the sample into ``data_path/name.inter`` and return that path."""
    path = Path(data_path) / f"{name}.inter"
    write_atomic_inter(path, *generate_checkins(**kwargs))
    return path
