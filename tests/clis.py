"""The book's command lines run as a user runs them: ``python -m ...`` in a fresh process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from alexnet_lib.config import REPO_ROOT


def python_m(module: str, *args, **popen) -> subprocess.Popen | subprocess.CompletedProcess:
    """``python -m module *args`` from the repository root under the smoke profile, with its own
    random state and threads: a finished run (output captured), or a `subprocess.Popen` when
    ``popen`` keywords are given.

    Ctrl-C as in a terminal: SIGINT at its default, even where the tests run in the background (a
    shell starts background jobs with SIGINT ignored, and a child would inherit that).
    """
    command = [sys.executable, "-m", module, *map(str, args)]
    env = {**os.environ, "ALEXNET_PROFILE": "smoke"}
    if popen:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)
    return subprocess.run(command, cwd=REPO_ROOT, env=env, text=True, capture_output=True, timeout=600)
