"""What the experiments' figures share: each seed's final value, and the panel of per-seed paired
differences with their interval."""

from __future__ import annotations

import textwrap


def final_per_seed(result: dict, key: str, **unit) -> list[float]:
    """The last value of curve ``key`` in each run whose unit matches ``unit``, in the order of the seeds."""
    runs = sorted((u for u in result["units"] if all(u["unit"][k] == v for k, v in unit.items())),
                  key=lambda u: u["unit"]["seed"])
    return [u[key][-1] for u in runs]


def paired_differences(ax, compared: list[tuple[str, list, dict]], ylabel: str, colour: str = "C0",
                       scale: float = 100) -> None:
    """One column per comparison ``(label, each seed's difference, its summary.difference)``: the
    seeds' differences (dots), their mean with its Student-t 95% interval (diamond and bar), the
    verdict under the label and the interval's kind above. ``scale``: 100 for points."""
    for x, (_, seeds, d) in enumerate(compared):
        ax.plot([x - 0.15] * len(seeds), [scale * s for s in seeds], "o", ms=4, color=colour, alpha=0.6)
        low, high = d["interval"] or (d["diff"], d["diff"])
        ax.errorbar(x + 0.15, scale * d["diff"], yerr=[[scale * (d["diff"] - low)], [scale * (high - d["diff"])]],
                    fmt="D", ms=5, color="k", capsize=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.margins(y=0.1)
    ax.set_xticks(range(len(compared)), [f"{what}\n{textwrap.fill(d['verdict'], 16)}" for what, _, d in compared],
                  fontsize=7)
    ax.set(ylabel=ylabel, xlim=(-0.5, len(compared) - 0.5))
    d = compared[0][2]
    ax.set_title("dots: one seed each; diamond: their mean,\n" + (d["kind"] if d["interval"] else "one seed: no interval"),
                 fontsize=8)
