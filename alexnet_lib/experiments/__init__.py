"""The book's experiments at two sizes, stored with provenance and verified.

    python -m alexnet_lib.experiments list                      # the experiments and their stored results
    python -m alexnet_lib.experiments run figure1 --size full   # run one, store results/figure1.json
    python -m alexnet_lib.experiments run lrn --size live       # what its chapter runs (shown, not stored)
    python -m alexnet_lib.experiments verify [NAME ...]         # re-run the start of each, compare
    python -m alexnet_lib.experiments claims                    # write book/claims.md from the results

Each experiment is one `Experiment` (`registry`: one module of this package each) with a ``live``
size, what its chapter runs under nbval, and a ``full`` one, big enough to show the paper's effect
or its absence over seeds. The full results are stored in ``results/`` and shown in the chapters
beside their live runs.
"""

from .record import load_result, provenance_line, result_arrays
from .registry import Experiment, experiment, registry
from .runner import full_result, live_result, run, verify
from .show import report

__all__ = ["Experiment", "experiment", "full_result", "live_result", "load_result", "provenance_line", "registry",
           "report", "result_arrays", "run", "verify"]
