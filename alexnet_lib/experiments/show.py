"""A result as a chapter shows it: where it comes from, and its claims with their verdicts."""

from __future__ import annotations

import textwrap

from .record import provenance_line
from .registry import experiment


def report(result: dict, width: int = 100) -> None:
    """Print ``result``'s provenance line and, per claim it tests, the paper's number, the book's
    (with its interval and n) and the verdict: the same lines as the claims page."""
    print(textwrap.fill(provenance_line(result), width))
    for claim, paper, book, verdict in experiment(result["name"]).rows(result["metrics"]):
        print(f"\n{claim}")
        print(textwrap.fill(f"paper: {paper}", width, initial_indent="  ", subsequent_indent="    "))
        print(textwrap.fill(f"book:  {book}", width, initial_indent="  ", subsequent_indent="    "))
        print(f"  verdict: {verdict.upper()}")
