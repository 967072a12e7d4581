"""Output folders and files: a fresh folder no other run shares, a given one checked before any work starts
(refused when an earlier run wrote there), and files replaced whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

__all__ = ["atomic_write", "check_unused_dir", "unique_dir", "writable_dir"]


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


def check_unused_dir(path: str | os.PathLike, what: str, writes: Iterable[str], hint: str = "") -> Path:
    """``path`` as a folder a run may write into: a place one can be made, or a folder holding none of the
    files a run writes (``writes``: names or glob patterns). A used one is refused (ValueError) naming what it
    holds and a free folder, so an earlier run's files are never overwritten or mixed with a new run's. Nothing
    is created here."""
    out = writable_dir(path, what, create=False)
    if out.is_dir():
        held = sorted({q.name for pattern in writes for q in out.glob(pattern)})
        if held:
            n = 2
            while Path(f"{out}-{n}").exists():
                n += 1
            shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
            raise ValueError(f"{what} {out} already holds a run's files ({shown}); name a new one, e.g. "
                             f"{out}-{n}{hint}")
    return out


def atomic_write(path: str | os.PathLike, data: str | bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same folder, flushed to disk,
    then renamed over ``path`` (``os.replace``), so a full disk, a crash or Ctrl-C leaves the old file as it
    was. An existing file keeps its permissions. With ``exclusive`` an existing ``path`` is never replaced
    (``FileExistsError``): the new file appears through a hard link, which fails if the name is taken."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o644
        os.chmod(tmp, mode)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
