"""The book's experiments at two sizes, stored with provenance and verified (DESIGN.md).

    python -m alexnet_lib.experiments list                      # the stored results
    python -m alexnet_lib.experiments run figure1 --size full   # run one, store results/figure1.json
    python -m alexnet_lib.experiments verify [NAME ...]         # re-run the start of each, compare
    python -m alexnet_lib.experiments claims                    # write book/claims.md from the results

Each experiment (`NAMES`, one module each) has a ``live`` size, what its chapter can afford under
nbval, and a ``full`` one, big enough to show the paper's effect or its absence over seeds. The
full results are stored in ``results/`` and shown in the chapters beside their live runs.
"""

from .record import load_result, provenance_line, result_arrays
from .runner import NAMES, experiment, full_result, run, verify

__all__ = ["NAMES", "experiment", "full_result", "load_result", "provenance_line", "result_arrays", "run",
           "verify"]
