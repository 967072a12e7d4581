"""Output folders: a fresh one that no other run shares, or a given one checked before any work starts."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

__all__ = ["unique_dir", "writable_dir"]


def unique_dir(root: str | os.PathLike, prefix: str = "") -> Path:
    """A new, empty folder ``ROOT/[PREFIX-]YYYYmmdd-HHMMSS`` (``-2``, ``-3``, ... when taken), created here.

    ``mkdir`` is atomic, so two runs in the same second, in one process or in several, never share one."""
    root = writable_dir(root, "the runs folder")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{prefix}-{stamp}" if prefix else stamp
    n = 1
    while True:
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return path


def writable_dir(path: str | os.PathLike, what: str = "folder", *, create: bool = True) -> Path:
    """``path`` as a folder this process can write into (created with ``create``); ValueError naming the
    problem otherwise (a file in the way, no permission)."""
    p = Path(path).expanduser()
    existing = next((q for q in (p, *p.parents) if q.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{what} {p}: {existing} is a file, not a folder; name a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {p}: {existing} is not writable here; name a folder you can write")
    if create:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{what} {p}: cannot create it ({exc.strerror}); name a folder you can write") from None
    return p
