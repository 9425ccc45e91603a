"""Files written whole or not at all: what every command of the book writes goes through `write_atomic`."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .config import display_path
from .errors import AlexNetError


def write_atomic(path: Path, write: Callable, need_bytes: int = 0, mode: str = "wb",
                 then: str = "run the same command again to continue") -> None:
    """``write(file)`` to a temporary file of this process, synced, then renamed to ``path``.

    On a full disk (``torch.save`` then raises RuntimeError, not OSError) or a Ctrl-C the temporary
    file is removed and the previous ``path`` stays as it was: an `AlexNetError` that says how much
    space is needed (about ``need_bytes``), or the KeyboardInterrupt alone.
    """
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, mode, **({} if "b" in mode else {"newline": ""})) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException as err:
        partial.unlink(missing_ok=True)
        if _caused_by(err, lambda e: isinstance(e, KeyboardInterrupt)):
            raise KeyboardInterrupt from None
        free = shutil.disk_usage(path.parent).free
        full = _caused_by(err, lambda e: isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT))
        if full or (isinstance(err, (OSError, RuntimeError)) and free < max(need_bytes, 1 << 20)):
            need = f"it needs about {need_bytes / 1e6:,.0f} MB, " if need_bytes else ""
            raise AlexNetError(
                f"No space left on the disk of {display_path(path.parent)} to write {path.name}: {need}"
                f"{free / 1e6:,.0f} MB are free. The previous {path.name}, if any, is intact: free some "
                f"space, then {then}."
            ) from None
        raise


def _caused_by(err: BaseException, test: Callable[[BaseException], bool]) -> bool:
    """Whether ``err`` or an exception it was raised from (or during) passes ``test``."""
    seen = set()
    while err is not None and id(err) not in seen:
        if test(err):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False
