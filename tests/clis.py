"""The book's command lines run as a user runs them: ``python -m ...`` in a fresh process, and
stopped at a known point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

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


@contextlib.contextmanager
def waiting_on(path: Path):
    """While it lasts, the file ``path`` is a named pipe that nothing writes to: a command that opens
    it waits there, so that a test interrupts the command at a known point. Then the file is back."""
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a reader still waiting (the test failed first): let it go on
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        path.unlink()
        path.write_bytes(data)
