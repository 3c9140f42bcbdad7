"""Bounded fits: at most N at a time per server and one per session (the others queue and see
their place), the same fit shared by everyone asking for it, a time limit, and at most M fitted
k kept per dataset.

Every server process (gunicorn workers and their background-job processes) shares the store's
folder, so the limits are lock files there. ``flock`` locks are released by the OS when their
process dies: a killed job never keeps a slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from segmentation.errors import InputError

MAX_FITS_ENV = "DASHBOARD_MAX_FITS"
FIT_TIMEOUT_ENV = "DASHBOARD_FIT_TIMEOUT_S"
KEEP_FITS_ENV = "DASHBOARD_KEEP_FITS"
POLL_S = 0.2
#: A background fit whose page has not polled for this long is cancelled (the tab went away);
#: ``$DASHBOARD_FIT_HEARTBEAT_S``.
HEARTBEAT_S = float(os.environ.get("DASHBOARD_FIT_HEARTBEAT_S") or 30)


@dataclass(frozen=True)
class FitLimits:
    """How much fitting a server allows.

    Parameters
    ----------
    max_fits : int
        Fits running at once on the server (every process sharing the store); more wait in a queue.
    timeout_s : float
        A fit running longer is stopped (0: no limit, the fit runs in the calling process).
    keep : int
        Fitted k kept on disk per dataset; the least recently used beyond it are deleted
        (the automatic k is always kept).
    """

    max_fits: int = 2
    timeout_s: float = 600.0
    keep: int = 4

    @classmethod
    def from_env(cls) -> FitLimits:
        """``$DASHBOARD_MAX_FITS``, ``$DASHBOARD_FIT_TIMEOUT_S``, ``$DASHBOARD_KEEP_FITS`` (or the defaults)."""
        env = os.environ
        return cls(max_fits=max(1, int(env.get(MAX_FITS_ENV) or cls.max_fits)),
                   timeout_s=float(env.get(FIT_TIMEOUT_ENV) or cls.timeout_s),
                   keep=max(1, int(env.get(KEEP_FITS_ENV) or cls.keep)))


class FitCancelled(Exception):
    """Nobody waits for this fit any more (its tab went away): it was stopped or never started."""


class FitTimeout(InputError):
    """A fit ran past the server's time limit and was stopped."""


class Lock:
    """An exclusive ``flock`` on a file, taken without waiting."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self, unlink: bool = False) -> None:
        if self.fd is not None:
            if unlink:
                self.path.unlink(missing_ok=True)
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def never() -> bool:
    return False


class FitGate:
    """The waits in front of a fit, each reported through ``report(text)`` while it lasts and
    given up (``FitCancelled``) as soon as ``cancelled()`` says nobody waits any more."""

    def __init__(self, root: Path, limits: FitLimits):
        self.root = Path(root)
        self.limits = limits

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def _wait(self, acquire, message, report, cancelled):
        shown = None
        while (got := acquire()) is None:
            if cancelled():
                raise FitCancelled
            text = message()
            if text != shown:
                report(text)
                shown = text
            time.sleep(POLL_S)
        return got

    @contextmanager
    def hold(self, path: Path, message: str, report, cancelled=never):
        """Hold the lock file ``path``, waiting (and saying ``message``) while another has it."""
        lock = Lock(path)
        self._wait(lambda: lock if lock.try_acquire() else None, lambda: message, report, cancelled)
        try:
            yield
        finally:
            lock.release()

    def session(self, owner: str | None, report, cancelled=never):
        """One fit at a time per browser session (``owner``; no limit without one)."""
        if not owner:
            return _nothing()
        name = hashlib.sha256(owner.encode()).hexdigest()[:32]
        return self.hold(self._folder("fit-sessions") / name, "waiting for this session's other fit", report,
                         cancelled)

    @contextmanager
    def slot(self, report, cancelled=never):
        """One of the server's ``max_fits`` slots, first come first served: a waiter holds a
        ticket in the queue folder and takes a slot only when no live ticket is older."""
        queue, slots = self._folder("fit-queue"), self._folder("fit-slots")
        ticket = _ticket(queue)
        try:
            def acquire():
                if self._ahead(queue, ticket.path.name):
                    return None
                for i in range(self.limits.max_fits):
                    lock = Lock(slots / f"slot-{i}")
                    if lock.try_acquire():
                        return lock
                return None

            def message():
                n = self._ahead(queue, ticket.path.name) + 1
                return f"waiting for {n} other fit{'s' if n > 1 else ''} (at most {self.limits.max_fits} at a time)"

            lock = self._wait(acquire, message, report, cancelled)
        finally:
            ticket.release(unlink=True)
        try:
            yield
        finally:
            lock.release()

    @staticmethod
    def _ahead(queue: Path, mine: str) -> int:
        """Live tickets older than ``mine``; a ticket whose lock is free lost its process: removed."""
        ahead = 0
        for path in sorted(queue.glob("t-*")):
            if path.name >= mine:
                break
            probe = Lock(path)
            if probe.try_acquire():
                probe.release(unlink=True)
            else:
                ahead += 1
        return ahead


@contextmanager
def _nothing():
    yield


def _ticket(queue: Path) -> Lock:
    """A queue ticket named by its time, locked before it appears under that name (a probe
    never sees an unlocked ticket that is alive)."""
    name = f"t-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    lock = Lock(queue / f"new-{name}")
    lock.try_acquire()
    os.rename(lock.path, queue / name)
    lock.path = queue / name
    return lock


class Heartbeat:
    """Whether a background job's page still polls it: the poll touches ``folder/<job pid>``
    (``JobManager.job_running``); the job asks ``lost()``."""

    def __init__(self, folder: Path, pid: int | None = None, limit_s: float | None = None):
        self.path = Path(folder) / str(pid or os.getpid())
        self.started = time.time()
        self.limit_s = HEARTBEAT_S if limit_s is None else limit_s

    @staticmethod
    def beat(folder: Path, job) -> None:
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        (Path(folder) / str(int(job))).touch()

    def lost(self) -> bool:
        try:
            last = self.path.stat().st_mtime
        except OSError:
            last = self.started  # no poll yet
        return time.time() - max(last, self.started) > self.limit_s

    def end(self) -> None:
        self.path.unlink(missing_ok=True)


def touch_used(folder: Path) -> None:
    """Mark a fit as used now (eviction keeps the most recently used)."""
    with contextlib.suppress(OSError):  # evicted meanwhile
        (folder / "used").touch()


def last_used(folder: Path) -> float:
    try:
        return (folder / "used").stat().st_mtime
    except OSError:
        return folder.stat().st_mtime if folder.exists() else 0.0
