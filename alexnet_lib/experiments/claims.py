"""The claims page (``book/claims.md``): every claim of the paper the book tests, read from the stored results.

``python -m alexnet_lib.experiments claims`` writes the page; a unit test checks that the committed
page is what the stored results give. Each row: the claim, the paper's number, the book's number
with its data and size, a verdict (reproduced / contradicted / not resolved at this size / not
testable here) and the chapter that shows it.
"""

from __future__ import annotations

from ..config import REPO_ROOT
from .record import load_result, result_path
from .runner import NAMES, experiment

PAGE = REPO_ROOT / "book" / "claims.md"
CHAPTER = {"figure1": "03_relu", "lrn": "05_lrn", "pooling": "06_overlapping_pooling", "views": "08_augmentation",
           "dropout": "09_dropout", "inits": "10_learning", "alexnet224": "10_learning", "depth": "13_discussion", "table2": "11_results",
           "figure3": "12_qualitative", "figure4": "12_qualitative"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def points(d: dict) -> str:
    """A difference over seeds with its 95% interval, in percentage points."""
    low, high = d["interval"]
    return f"{100 * d['diff']:+.1f} points (95% interval {100 * low:+.1f} to {100 * high:+.1f})"


def _figure1(m: dict) -> list[tuple]:
    rows = []
    for variant, v in m["variants"].items():
        start = "PyTorch's init, unit-variance inputs" if variant == "pytorch" else "the 2012 code's init and raw pixels"
        never = sum(e is None for e in v["tanh"]["epochs"])
        ratio = (f"tanh needs {v['ratio_mean']:.2f}x ReLU's epochs (seeds {v['ratio_range'][0]:.2f}-"
                 f"{v['ratio_range'][1]:.2f}{f'; tanh never got there in {never}' if never else ''})"
                 if v["ratio_mean"] else "one net never reached it")
        rows.append((f"Figure 1: ReLU reaches a training error faster than tanh ({start})",
                     "25% on CIFAR-10, 6x fewer epochs",
                     f"{m['threshold']:.0%} on Fashion-MNIST: {ratio}", v["verdict"]))
    return rows


def _lrn(m: dict) -> list[tuple]:
    words = {"unit": "unit-variance inputs", "raw": "the 2012 code's raw pixels"}
    return [(f"LRN lowers a four-layer CNN's test error ({words[s]})", "13% -> 11% on CIFAR-10",
             f"{pct(v['without']['mean'])} -> {pct(v['with']['mean'])}: {points(v['with_minus_without'])}; "
             f"{v['competing']['mean']:.0%} of units compete", v["with_minus_without"]["verdict"])
            for s, v in m.items()]


def _pooling(m: dict) -> list[tuple]:
    return [("overlapping pools lower the error", "-0.4% top-1 (ImageNet)",
             f"{pct(m['overlapping']['test_error']['mean'])} vs {pct(m['plain']['test_error']['mean'])}: "
             f"{points(m['test_error_diff'])}", m["test_error_diff"]["verdict"]),
            ("overlapping pools are slightly harder to overfit (compared at equal training error)", "no number",
             f"held-out error at {pct(m['level'])} training error: {points(m['at_level_diff'])}",
             m["at_level_diff"]["verdict"])]


def _views(m: dict) -> list[tuple]:
    return [("training on random crops and flips lowers the error", "\"substantial overfitting\" without",
             f"{pct(m['crops+flips']['one_view']['mean'])} vs {pct(m['centre']['one_view']['mean'])} (centre view): "
             f"{points(m['augment_minus_centre'])}", m["augment_minus_centre"]["verdict"]),
            ("averaging ten test views lowers the error", "no separate number (Table 2 uses it)",
             f"{pct(m['crops+flips']['ten_views']['mean'])} vs {pct(m['crops+flips']['one_view']['mean'])}: "
             f"{points(m['crops+flips']['ten_minus_one'])}", m["crops+flips"]["ten_minus_one"]["verdict"]),
            ("PCA lighting lowers top-1 by over 1%", "over 1% top-1", "needs colour images", "not testable here")]


def _dropout(m: dict) -> list[tuple]:
    ratio = m["epochs_ratio"]
    return [("without dropout the net overfits substantially", "no number",
             f"held-out minus training error {pct(m['none']['gap']['mean'])} without, "
             f"{pct(m['paper']['gap']['mean'])} with: {points(m['gap_diff'])}", m["gap_diff"]["verdict"]),
            ("dropout roughly doubles the iterations to converge", "about 2x",
             f"{ratio:.2f}x the epochs to within 0.5 points of its best held-out error: "
             f"{m['epochs_diff']['diff']:+.1f} epochs (95% interval {m['epochs_diff']['interval'][0]:+.1f} to "
             f"{m['epochs_diff']['interval'][1]:+.1f})", m["epochs_diff"]["verdict"])]


def _inits(m: dict) -> list[tuple]:
    left = {name: m[name]["left_at_step"] for name in ("paper", "2012-code", "caffe", "pytorch", "he")}
    said = "; ".join(f"{n}: " + (", ".join("never" if s is None else f"step {s}" for s in steps))
                     for n, steps in left.items())
    paper_leaves = all(s is not None for s in left["paper"])
    return [("the paper's init (N(0, 0.01), biases 1) leaves the uniform guess's loss", "it trained AlexNet",
             f"first below 80% training error (per seed): {said}",
             "reproduced" if paper_leaves else "not resolved at this size"),
            ("weight decay lowers the training error", "no number",
             f"{pct(m['he']['final_train_error']['mean'])} with vs {pct(m['no_decay']['final_train_error']['mean'])} "
             f"without: {points(m['decay_minus_none'])}", m["decay_minus_none"]["verdict"])]


def _alexnet224(m: dict) -> list[tuple]:
    def book(init: str) -> str:
        r, one = m[init], m[init]["1_view_top1"]
        left = ", ".join("never" if s is None else f"step {s}" for s in r["left_at_step"])
        interval = (f" (Student-t 95% interval {pct(one['interval'][0])} to {pct(one['interval'][1])}, n = {one['n']} seeds)"
                    if one["interval"] else f" (n = {one['n']})")
        return (f"below 80% training error at {left}; after {m['steps']} steps, {pct(one['mean'])} top-1 error from "
                f"1 view{interval}, {pct(r['10_views_top1']['mean'])} from 10; chance {pct(m['chance_top1'])}")

    return [("the paper's recipe, as printed (every weight from N(0, 0.01)), trains AlexNet", "it trained AlexNet "
             "(Table 2)", book("paper"), m["paper"]["verdict"]),
            ("the recipe as the 2012 code ran it (conv3-5 from N(0, 0.03)) trains AlexNet", "the run behind "
             "Table 2", book("2012-code"), m["2012-code"]["verdict"])]


def _depth(m: dict) -> list[tuple]:
    return [(f"removing a middle conv layer ({m['removed']['layer']}) costs top-1", "about +2% top-1",
             f"{pct(m['removed']['test_error']['mean'])} vs {pct(m['all_five']['test_error']['mean'])}: "
             f"{points(m['removed_minus_all'])}", m["removed_minus_all"]["verdict"])]


def _table2(m: dict) -> list[tuple]:
    one, ten, d = m["one_view"], m["ten_views"], m["ten_minus_one_top1"]
    low, high = d["interval"]
    return [("one net, the whole recipe: top-1 / top-5 error (Table 2, 1 CNN)", "40.7% / 18.2% (ILSVRC-2012 val)",
             f"{pct(one['top1'])} / {pct(one['top5'])} from 1 view, {pct(ten['top1'])} / {pct(ten['top5'])} "
             f"from 10 ({m['epochs']} epochs)", "a different dataset: no verdict"),
            ("averaging ten views lowers the single net's top-1 error", "40.66% -> 40.25% (the 2012 code's log)",
             f"{100 * d['diff']:+.2f} points (95% interval {100 * low:+.2f} to {100 * high:+.2f}, paired over "
             "the test images)", d["verdict"])]


def _figure3(m: dict) -> list[tuple]:
    seeds = [k for k in m if k.startswith("seed")]
    colour = "; ".join(f"{k}: {m[k]['colourfulness'][0]:.2f} vs {m[k]['colourfulness'][1]:.2f} "
                       f"(p = {m[k]['split']['colourfulness']['p']:.2g})" for k in seeds)
    oriented = ", ".join(f"{m[k]['orientedness'][0]:.2f}/{m[k]['orientedness'][1]:.2f}" for k in seeds)
    return [("conv1 learns oriented kernels (edges, gratings)", "Figure 3",
             f"orientedness per tower {oriented} (random 0.06, ICA of the photographs "
             f"{m['ica']['orientedness'][0]:.2f}/{m['ica']['orientedness'][1]:.2f})", m["oriented_verdict"]),
            ("tower 1's kernels colour-agnostic, tower 2's colour-specific (two towers on photo patches)",
             "every run", f"colourfulness tower 1 vs 2, {colour}", m["split_verdict"])]


def _figure4(m: dict) -> list[tuple]:
    a = m["agreement"]
    return [("the last hidden layer's nearest neighbours share the query's class, pixel neighbours less",
             "Figure 4 (right), no number",
             f"{pct(a['fc7'])} of the 6 nearest share it in fc7, {pct(a['pixels'])} in pixels, {pct(a['chance'])} "
             f"by chance: {points(m['fc7_minus_pixels'])}", m["fc7_minus_pixels"]["verdict"])]


ROWS = {"figure1": _figure1, "lrn": _lrn, "pooling": _pooling, "views": _views, "dropout": _dropout,
        "inits": _inits, "alexnet224": _alexnet224, "depth": _depth, "table2": _table2, "figure3": _figure3, "figure4": _figure4}
NOT_TESTABLE = [  # (section, chapter, claim, paper's number, why not here)
    ("§1, §6", "11_results", "AlexNet's ILSVRC-2010 test error (Table 1)", "37.5% / 17.0% top-1 / top-5",
     "needs ILSVRC-2010 and days of GPU time (the paper profile)"),
    ("§6", "11_results", "ILSVRC-2012 validation error of one CNN (Table 2)", "40.7% / 18.2%",
     "needs ILSVRC-2012 (the paper profile)"),
    ("§3.2", "04_multiple_gpus", "two towers beat one net with half the kernels", "-1.7% / -1.2%",
     "needs ImageNet-scale training"),
    ("§3.3", "05_lrn", "LRN lowers AlexNet's ImageNet error", "-1.4% / -1.2%", "needs ImageNet-scale training"),
]


def page() -> str:
    """The claims page, from the stored results."""
    lines = [
        "# The paper's claims, tested",
        "",
        "Every claim of the paper that the book puts to a test, with the paper's number, the book's and",
        "a verdict. The book's numbers come from the stored full-size results in `results/`, run on real",
        "Fashion-MNIST (not the paper's data: the sizes of the effects need not carry over); each chapter",
        "shows the result beside a small live run. Differences are means over seeds with a 95% interval",
        "(two standard errors): *reproduced* when the interval lies on the paper's side of zero,",
        "*contradicted* when it lies on the other side, *not resolved at this size* when it straddles zero.",
        "This page is generated by `python -m alexnet_lib.experiments claims`; do not edit it by hand.",
        "",
        "| section | claim | the paper | the book | verdict | data, size |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in NAMES:
        if not result_path(name).exists():
            continue
        result = load_result(name)
        d = result["data"]
        images = f"{d['train_images']:,}" + (f" + {d['test_images']:,}" if d["test_images"] else "")
        data = f"{d['name'].split(' (')[0]}, {result['size']} size: {images} images, {len(result['units'])} runs"
        for claim, paper, book, verdict in ROWS[name](result["metrics"]):
            lines.append(f"| [{experiment(name).SECTION}]({CHAPTER[name]}.ipynb) | {claim} | {paper} | {book} | "
                         f"**{verdict}** | {'-' if verdict == 'not testable here' else data} |")
    for section, chapter, claim, paper, why in NOT_TESTABLE:
        lines.append(f"| [{section}]({chapter}.ipynb) | {claim} | {paper} | {why} | **not testable here** | - |")
    return "\n".join(lines) + "\n"


def write_page() -> None:
    PAGE.write_text(page())
