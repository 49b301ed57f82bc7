"""Do the in-memory part of a commit while the journal's fsync waits on the disk.

A durable transition is CPU work (the machine, encoding) plus one fsync, and the fsync is mostly
waiting: `os.fsync` releases the GIL for as long as the device takes. The work that only the
snapshot and the history need (serialising the position, encoding its slot) does not have to
precede the commit, so it runs on a helper thread while the caller sits in the fsync. Nothing is
written by that work: the files are written by the caller after both have finished, so the journal
stays the commit point (see `engine.positions.book`).

Which thread does what matters. The fsync stays on the calling thread and the work goes to the
helper: the helper can only run once the caller has released the GIL, which it does by entering
the fsync. The other way round, the helper cannot even start its fsync until the caller's work
gives the GIL up, and the two run one after the other (measured: bench/durable_transition.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class FsyncOverlap:
    """One helper thread, started on first use, that runs `work` while the caller runs `sync`."""

    def __init__(self, name: str = "fsync-overlap") -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._work: Callable[[], Any] | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._closed = False

    def during(self, sync: Callable[[], None], work: Callable[[], T]) -> T:
        """Run `work` on the helper while this thread runs `sync`; return `work`'s result once both
        are done. An exception from `sync` wins over one from `work`; either is raised here, and
        only after both have finished, so the caller never races the helper."""
        if self._closed:
            raise RuntimeError("the fsync overlap was closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._work, self._result, self._error = work, None, None
        self._go.release()
        try:
            sync()
        finally:
            self._done.acquire()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        result, self._result, self._work = self._result, None, None
        return result  # type: ignore[no-any-return]

    def _serve(self) -> None:
        while True:
            self._go.acquire()
            work = self._work
            if work is None:  # close()
                self._done.release()
                return
            try:
                self._result = work()
            except BaseException as exc:  # handed to the caller, which re-raises it
                self._error = exc
            self._done.release()

    def close(self) -> None:
        """Stop the helper (idempotent). `during` may not be called afterwards."""
        self._closed = True
        if self._thread is not None:
            self._work = None
            self._go.release()
            self._done.acquire()
            self._thread.join()
            self._thread = None
