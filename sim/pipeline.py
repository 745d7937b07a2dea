"""Calls run on a worker thread while the engine goes on with its own work: the network model's, or the
tracker's updates (:data:`sim.engine.NETWORK_THREAD_MIN` says which).

Their compiled kernels release the GIL, and what the engine needs from them is needed only later in
simulated time: a report sent now arrives after its latency, a scan is published after its CPI and
processing, the tracks are read when CD&R takes its picture. So the engine submits each call and takes its
result when simulated time needs it, while the call runs on a second core. The calls run one at a time,
in submission order, so the model's state and random streams see exactly the sequence a synchronous run
gives; where the engine takes each result is decided by simulated time alone, never by which thread
finished first, so a run stays a pure function of (scenario, seed). Layer: sim.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Pipeline"]

T = TypeVar("T")


class Pipeline:
    """Calls run in submission order, on one worker thread (``threaded``) or at once in the caller.

    >>> jobs = Pipeline(threaded=True, name="doc")
    >>> seen = []
    >>> first, second = jobs.submit(seen.append, 1), jobs.submit(seen.append, 2)
    >>> jobs.submit(sum, seen).result(), seen
    (3, [1, 2])
    >>> jobs.close()
    """

    def __init__(self, *, threaded: bool, name: str = "worker") -> None:
        """``name``: the worker thread's, after ``utm6g-`` (for profilers and stack dumps)."""
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"utm6g-{name}") if threaded else None
        self._unread: deque[Future] = deque()  # calls not yet known to have succeeded

    @property
    def threaded(self) -> bool:
        """Whether calls run on the worker (results may still be pending) or at once."""
        return self._pool is not None

    def submit(self, fn: Callable[..., T], *args: Any, inline: bool = False) -> Future[T]:
        """Run ``fn(*args)`` after every call submitted before it; its future. The caller must not change
        ``args`` until the future is done. A failed call raises from its future, and from the next
        :meth:`submit` or :meth:`drain` after it ended. ``inline`` (or an unthreaded pipeline): the call
        runs now in the caller, once the calls before it are done, and its exception propagates."""
        if self._pool is None or inline:
            self.drain()
            done: Future[T] = Future()
            done.set_result(fn(*args))
            return done
        while self._unread and self._unread[0].done():
            self._unread.popleft().result()  # an earlier call failed: raise it now
        future = self._pool.submit(fn, *args)
        self._unread.append(future)
        return future

    def drain(self) -> None:
        """Wait for every call submitted so far; the first failure among them is raised."""
        while self._unread:
            self._unread.popleft().result()

    def close(self) -> None:
        """Stop the worker once its queue is done (idempotent); pending failures are not raised."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._unread.clear()
