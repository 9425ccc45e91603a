"""nbval, with a stated tolerance for the cells that print the numbers of a float32 training run.

`pytest --nbval book/` compares every text output with the stored one, character by character.
That is right for everything the book computes exactly (counts, shapes, float64 checks), but a
float32 training run repeats only to the digits that the CPU's kernels determine: another CPU's
vector units (AVX-512, AVX2), another thread count or CUDA round differently, and 50 steps of SGD
carry that rounding into the third digit of an error rate. Such a cell says so in its metadata:

    "nbval-tolerance": {"last_digit": 3, "why": "float32 training: ... moved them by up to 2"}

and then each measured number may differ from the stored one by up to ``last_digit`` units of
its last printed digit (0.294 may be 0.291 .. 0.297; 83.0% may be 82.7% .. 83.3%; 69% may be
66% .. 72%). A measured number is one printed with a decimal point or as a percentage; a plain
integer (an epoch, a count of images) must match exactly, unless the cell also says
``"counts": true`` (for a count of images that the run decides, such as "6 of 8 right", or a
glued whole percentage).
Everything else must still match exactly: the words, the number of numbers and how each is
printed. A cell whose words depend on the run (a verdict, a choice) cannot rely on this: it fails
as any other cell does.

One line is left out of every comparison: ``expected: about ...`` (`alexnet_lib.expected`), which a
loop prints only where this machine is slow enough for it to take over a minute.
"""

from __future__ import annotations

import re

import pytest

TOLERANCE_KEY = "nbval-tolerance"
# A number: optional sign, digits, optional decimals and exponent, optional percent sign.
# e.g. 0.294, -3.5, 1.3e-03, 83.0%, 69%, 7, a ratio 0.75x (not the digits inside a word or a name such as
# fc7 or 3x3).
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?(%?)(?=x\b|(?![\w.]))")
EXPECTED_TIME = re.compile(r"^expected: about .*\n", re.MULTILINE)


def within_tolerance(stored: str, fresh: str, last_digit: int, counts: bool = False) -> bool:
    """Whether ``fresh`` is ``stored`` up to ``last_digit`` units in the last digit of each measured number."""
    if NUMBER.sub("#", stored).split() != NUMBER.sub("#", fresh).split():
        return False  # other words or layout (white space aside)
    for a, b in zip(NUMBER.finditer(stored), NUMBER.finditer(fresh)):
        decimals, exponent, percent = a.groups()
        if (len(decimals or ""), exponent, percent) != (len(b.group(1) or ""), b.group(2), b.group(3)):
            return False  # printed to another precision, in another decade or unit
        measured = decimals is not None or percent or counts
        unit = 10.0 ** (-len(decimals or "") + int(exponent or 0))
        allowed = (last_digit + 0.5) * unit if measured else 0.0  # +0.5: both sides are rounded
        if abs(float(a.group(0).rstrip("%")) - float(b.group(0).rstrip("%"))) > allowed:
            return False
    return True


def _texts(output) -> list[tuple[dict, str]]:
    """The (container, key) of each text an output holds: a stream's text, a result's text/plain,
    a glued value's application/papermill.record/text/plain."""
    if output.get("output_type") == "stream":
        return [(output, "text")]
    data = output.get("data", {})
    return [(data, key) for key in sorted(data) if key.endswith("text/plain")]


def _tolerant_compare(item, last_digit: int, counts: bool):
    compare = item.compare_outputs

    def compare_outputs(test, ref, skip_compare=None):
        # Where a fresh text is the stored one within the tolerance, compare the stored text with itself.
        if len(test) == len(ref):
            for fresh_out, stored_out in zip(test, ref):
                for (fresh, key), (stored, _) in zip(_texts(fresh_out), _texts(stored_out)):
                    a, b = item.sanitize(stored[key]), item.sanitize(fresh[key])  # nbval's own rewrites first
                    if a != b and within_tolerance(a, b, last_digit, counts):
                        fresh[key] = stored[key]
        return compare(test, ref, skip_compare)

    return compare_outputs


def without_expected_times(outputs) -> list:
    """``outputs`` without the expected-time lines, and without a stream that held nothing else."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            output["text"] = EXPECTED_TIME.sub("", output["text"])
            if not output["text"]:
                continue
        kept.append(output)
    return kept


def _compare_without_expected_times(item):
    compare = item.compare_outputs

    def compare_outputs(test, ref, skip_compare=None):
        return compare(without_expected_times(test), without_expected_times(ref), skip_compare)

    return compare_outputs


def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None:
            continue
        tolerance = getattr(cell, "metadata", {}).get(TOLERANCE_KEY)
        if tolerance is not None:
            if not isinstance(tolerance.get("last_digit"), int) or not tolerance.get("why"):
                raise pytest.UsageError(f"{item.nodeid}: {TOLERANCE_KEY} needs an integer 'last_digit' and a 'why'")
            item.compare_outputs = _tolerant_compare(item, tolerance["last_digit"], bool(tolerance.get("counts")))
        item.compare_outputs = _compare_without_expected_times(item)
