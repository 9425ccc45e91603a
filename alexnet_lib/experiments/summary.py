"""Numbers over seeds: a mean with its spread, and a difference of two settings with its verdict."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def seed_stats(values) -> dict:
    """Mean, standard deviation, standard error, min and max of one number over seeds."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "sd": sd, "se": sd / math.sqrt(len(v)), "min": float(v.min()),
            "max": float(v.max()), "n": len(v)}


def difference(a, b, paper_sign: int) -> dict:
    """``mean(a) - mean(b)`` over seeds, its standard error, a 95% interval (2 s.e.) and the verdict.

    ``paper_sign`` is the sign the paper found (-1: a is lower than b). The verdict is
    ``reproduced`` when the interval lies on the paper's side of zero, ``contradicted`` when it lies
    on the other side, else (or with a single seed) ``not resolved at this size``: the interval then
bounds the effect.
    """
    sa, sb = seed_stats(a), seed_stats(b)
    diff, se = sa["mean"] - sb["mean"], math.hypot(sa["se"], sb["se"])
    low, high = diff - 2 * se, diff + 2 * se
    if min(sa["n"], sb["n"]) < 2:
        verdict = "not resolved at this size"  # one seed has no spread to judge by
    elif (low > 0 or high < 0) and math.copysign(1, diff) == paper_sign:
        verdict = "reproduced"
    elif low > 0 or high < 0:
        verdict = "contradicted"
    else:
        verdict = "not resolved at this size"
    return {"diff": diff, "se": se, "interval": [low, high], "verdict": verdict}


def t_interval(values) -> dict:
    """Mean of ``values`` over seeds with its Student-t 95% interval (n - 1 degrees of freedom)."""
    v = np.asarray(values, dtype=float)
    n, mean = len(v), float(v.mean())
    if n < 2:  # one seed has no spread: no interval
        return {"mean": mean, "n": n, "interval": None, "kind": "one seed: no interval"}
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "n": n, "interval": [mean - half, mean + half], "kind": "Student-t 95%, over seeds"}
