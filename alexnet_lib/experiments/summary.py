"""Numbers over seeds: a mean with its spread, and a difference of two settings with its verdict.

Every interval is a Student-t 95% interval and says what it is (``kind``) and how many numbers it
rests on (``n``). With 2 or 3 seeds the multiplier is large (12.7 at n = 2, 4.30 at n = 3 for a
mean or a paired difference), not the 2 of a normal approximation: a claim needs an effect
large against its spread, or more seeds, to be resolved.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

REPRODUCED, CONTRADICTED, UNRESOLVED = "reproduced", "contradicted", "not resolved at this size"


def seed_stats(values) -> dict:
    """Mean, standard deviation, standard error, min and max of one number over seeds."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "sd": sd, "se": sd / math.sqrt(len(v)), "min": float(v.min()),
            "max": float(v.max()), "n": len(v)}


def t_interval(values) -> dict:
    """Mean of ``values`` over seeds with its Student-t 95% interval (n - 1 degrees of freedom)."""
    v = np.asarray(values, dtype=float)
    n, mean = len(v), float(v.mean())
    if n < 2:  # one seed has no spread: no interval
        return {"mean": mean, "n": n, "interval": None, "kind": "one seed: no interval"}
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "n": n, "interval": [mean - half, mean + half], "kind": "Student-t 95%, over seeds"}


def verdict(interval: list[float] | None, paper_sign: int) -> str:
    """``reproduced`` when the interval lies wholly on the side of zero the paper found
    (``paper_sign`` -1: below), ``contradicted`` when wholly on the other side, else (or without an
    interval) ``not resolved at this size``: the interval then bounds the effect."""
    if interval is None:
        return UNRESOLVED
    low, high = interval
    if low > 0 or high < 0:
        return REPRODUCED if (1 if low > 0 else -1) == paper_sign else CONTRADICTED
    return UNRESOLVED


def t_difference(diff: float, se: float, df: float, paper_sign: int, kind: str, n) -> dict:
    """A difference with standard error ``se`` on ``df`` degrees of freedom: its Student-t 95%
    interval and verdict. ``kind`` and ``n`` say what the interval is over."""
    interval = None
    if df >= 1 and math.isfinite(se):
        half = float(stats.t.ppf(0.975, df)) * se
        interval = [diff - half, diff + half]
    return {"diff": diff, "se": se, "df": df, "n": n, "kind": kind, "interval": interval,
            "verdict": verdict(interval, paper_sign)}


def difference(a, b, paper_sign: int, *, paired: bool) -> dict:
    """``mean(a) - mean(b)`` over seeds with its Student-t 95% interval and the verdict.

    ``paired``: ``a[i]`` and ``b[i]`` share seed i and the data (the same initial draw of the
    rest, the same batches): the interval is a one-sample t over the n differences, n - 1 degrees
    of freedom. Otherwise the two groups are independent: Welch's t, with the
    Welch-Satterthwaite degrees of freedom. ``paper_sign`` is the sign the paper found
    (-1: a is lower than b); see `verdict`.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if paired:
        if len(a) != len(b):
            raise ValueError(f"a paired difference needs as many numbers in each arm, not {len(a)} and {len(b)}")
        d = a - b
        n = len(d)
        se = float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
        return t_difference(float(d.mean()), se, n - 1, paper_sign, f"paired Student-t 95%, n = {n} seeds", n)
    va = a.var(ddof=1) / len(a) if len(a) > 1 else math.nan
    vb = b.var(ddof=1) / len(b) if len(b) > 1 else math.nan
    se = math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    else:  # no spread in either arm (or one seed): the pooled degrees of freedom
        df = len(a) + len(b) - 2 if math.isfinite(se) else 0
    return t_difference(float(a.mean() - b.mean()), se, float(df), paper_sign,
                        f"Welch 95%, n = {len(a)} + {len(b)} seeds", [len(a), len(b)])


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def points(d: dict, unit: str = "points", scale: float = 100, digits: int = 1) -> str:
    """A difference with its interval, what the interval is and its n, in percentage points:
    ``-2.5 points (paired Student-t 95%, n = 3 seeds: -6.9 to +1.9)``."""
    number = f"{scale * d['diff']:+.{digits}f} {unit}"
    if d["interval"] is None:
        return f"{number} (n = {d['n']}: no interval)"
    low, high = (scale * x for x in d["interval"])
    return f"{number} ({d['kind']}: {low:+.{digits}f} to {high:+.{digits}f})"
