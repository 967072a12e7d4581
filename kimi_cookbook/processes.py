"""Child processes that never outlive us: started in their own process group, stopped as a group.

Servers and benchmark clients spawn helpers of their own (SGLang's scheduler and detokenizer, the client's
tokenizer workers), so stopping only the child leaves orphans behind. Every child started here leads a new
session (``start_new_session``); :func:`stop_group` sends SIGTERM to the whole group, then SIGKILL after a
grace period, and reaps the leader.

On Linux the child also gets SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), so a killed notebook
kernel does not leave a GPU server running. That signal fires when the *thread* that forked the child
exits, not the process. Launching from the main thread (scripts, Jupyter cells, the CLI) ties the child to
the process; a launch from any other thread is handed to one long-lived daemon thread of this module,
which forks there, so a short-lived worker thread that returns does not take the child down with it. The
signal is set with ``preexec_fn``, which Python documents as unsafe when other threads are running (the
forked child could deadlock on a lock held at fork time before it execs); ours only calls an
already-loaded ``prctl`` and allocates nothing.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kimi_cookbook.errors import RunError

__all__ = ["Stalled", "display_command", "run_streaming", "start", "stop_group"]

STOP_GRACE_S = 15.0


class Stalled(RunError, TimeoutError):
    """:func:`run_streaming` stopped a child because its ``watch`` said it was stuck; ``str()`` says why."""


def display_command(argv: list[str], env: dict[str, str] | None = None) -> str:
    """``argv`` as one terminal line: ``python3`` for this interpreter, env prefix, every word shell-quoted."""
    shown = ["python3" if i == 0 and a == sys.executable else a for i, a in enumerate(argv)]
    prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
    return prefix + shlex.join(shown)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to ``proc``'s process group (it must lead one), SIGKILL after ``grace_s``; reaps it."""
    pgid = proc.pid  # started by start(): the child leads its own group
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
            if sig == signal.SIGTERM:
                os.killpg(pgid, signal.SIGCONT)  # a stopped member (Ctrl-Z, SIGSTOP) handles SIGTERM only when resumed
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 10.0)
        while time.monotonic() < deadline:
            try:
                proc.wait(timeout=0.1)  # reap the leader so the group can disappear
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is not None and not _group_alive(pgid):
                return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _parent_death_signal_fn():
    """A preexec_fn that asks Linux to SIGKILL the child when its parent dies (None elsewhere).

    The C function is looked up here, in the parent: between fork and exec only the prepared call runs.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # best effort: no prctl, no parent-death signal
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def _set() -> None:
        prctl(pr_set_pdeathsig, sigkill)

    return _set


def _popen(argv: list[str], kwargs: dict) -> subprocess.Popen:
    """Popen in a new session. In the main thread, Ctrl-C during the fork is held until the child exists, then
    the child is stopped and KeyboardInterrupt raised: an interrupt inside the fork's at-fork hooks would
    leave the ``logging`` module's lock held and hang the process at exit. SIGTERM, when a Python handler
    takes it (the command line's: handled like Ctrl-C), is held the same way and delivered again afterwards."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return subprocess.Popen(argv, start_new_session=True, preexec_fn=_parent_death_signal_fn(), **kwargs)  # noqa: PLW1509
    term = signal.getsignal(signal.SIGTERM)
    hold_term = callable(term)
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    if hold_term:
        signal.signal(signal.SIGTERM, lambda signum, frame: held.append(signum))
    try:
        proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=_parent_death_signal_fn(), **kwargs)  # noqa: PLW1509
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if hold_term:
            signal.signal(signal.SIGTERM, term)
    if held:
        stop_group(proc, 5.0)
        if signal.SIGTERM in held:
            signal.raise_signal(signal.SIGTERM)  # its handler raises here
        raise KeyboardInterrupt
    return proc


_SPAWNER: tuple[threading.Thread, queue.SimpleQueue] | None = None
_SPAWNER_LOCK = threading.Lock()


def _spawner_loop(jobs: queue.SimpleQueue) -> None:
    while True:
        args, box, done = jobs.get()
        try:
            box.append(_popen(*args))
        except BaseException as exc:  # handed back to the caller's thread
            box.append(exc)
        done.set()


def start(argv: list[str], **popen_kwargs) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new process group, killed with this process (Linux).

    ``popen_kwargs`` go to :class:`subprocess.Popen` (``stdout``, ``stderr``, ``stdin``, ``env``, ``cwd``).
    Stop it with :func:`stop_group`.
    """
    global _SPAWNER
    if threading.current_thread() is threading.main_thread():
        return _popen(argv, popen_kwargs)
    with _SPAWNER_LOCK:
        if _SPAWNER is None or not _SPAWNER[0].is_alive():
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=_spawner_loop, args=(jobs,), name="kimi-cookbook-spawner", daemon=True)
            thread.start()
            _SPAWNER = (thread, jobs)
        jobs = _SPAWNER[1]
    box: list = []
    done = threading.Event()
    jobs.put(((argv, popen_kwargs), box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def run_streaming(
    cmd: list[str],
    *,
    env: dict[str, str],
    log_path: str | os.PathLike,
    echo: Callable[[str], None] | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike | None = None,
    grace_s: float = 10.0,
    watch: Callable[[], str | None] | None = None,
    watch_every_s: float = 1.0,
    shown_command: str | None = None,
) -> tuple[int, str]:
    """Run ``cmd`` to the end; return (exit code, its merged stdout/stderr).

    The output goes to ``log_path`` (after a ``$ command`` line: ``shown_command`` if given) and to ``echo`` as it
    comes. Past ``timeout`` seconds, or on any exception in this process (Ctrl-C), the child's whole group is
    stopped; a timeout raises :class:`TimeoutError` naming the log. ``watch`` is called every ``watch_every_s``
    seconds while the child runs: when it returns a reason, the group is stopped and :class:`Stalled` raised
    with that reason.
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds above 0 (or None), got {timeout!r}")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks: list[str] = []
    timed_out = threading.Event()
    stalled: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + (shown_command or display_command(cmd)) + "\n")
        proc = start(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        watchdog = None
        if timeout is not None:

            def expire() -> None:
                timed_out.set()
                stop_group(proc, grace_s)

            watchdog = threading.Timer(timeout, expire)
            watchdog.daemon = True
            watchdog.start()
        finished = threading.Event()
        if watch is not None:

            def keep_watching() -> None:
                while not finished.wait(watch_every_s):
                    reason = watch()
                    if reason:
                        stalled.append(reason)
                        stop_group(proc, grace_s)
                        return

            threading.Thread(target=keep_watching, name="kimi-cookbook-watch", daemon=True).start()
        try:
            fd = proc.stdout.fileno()
            while True:
                data = os.read(fd, 65536)
                piece = decoder.decode(data, final=not data)
                if piece:
                    chunks.append(piece)
                    log.write(piece)
                    log.flush()
                    if echo is not None:
                        echo(piece)
                if not data:
                    break
            rc = proc.wait()
        except BaseException:
            stop_group(proc, grace_s)  # interrupted: the child must not outlive us
            raise
        finally:
            finished.set()
            if watchdog is not None:
                watchdog.cancel()
            proc.stdout.close()
    if stalled:
        raise Stalled(stalled[0])
    if timed_out.is_set():
        name = cmd[2] if len(cmd) > 2 and cmd[1] == "-m" else Path(cmd[0]).name
        raise TimeoutError(f"{name} ran past {timeout:g} s and was stopped; see {log_path}")
    return rc, "".join(chunks)


class ProgressEcho:
    """An ``echo`` for :func:`run_streaming` that shows only a tool's tqdm progress bar (lines holding
    ``NN%|``), redrawn in place; everything else stays in the log. Call :meth:`close` after the run."""

    def __init__(self, write: Callable[[str], object] | None = None):
        self._write = write or _stdout_write
        self._pending = ""
        self._shown = False

    def __call__(self, piece: str) -> None:
        self._pending += piece
        *done, self._pending = re.split(r"[\r\n]", self._pending)
        bars = [seg for seg in done if _BAR_RE.search(seg)]
        if bars:
            self._write("\r" + bars[-1].strip())
            self._shown = True

    def close(self) -> None:
        if _BAR_RE.search(self._pending):
            self._write("\r" + self._pending.strip())
            self._shown = True
        if self._shown:
            self._write("\n")
        self._pending, self._shown = "", False


_BAR_RE = re.compile(r"\d+%\|")


def _stdout_write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
