"""Run computations off the event loop with a time budget and a cap on how many run at once.

A plan search is CPU-bound Python; a thread cannot be killed, so the cap is what bounds the CPU: at most
``max_parallel_jobs`` computations run; a request beyond that waits up to ``queue_wait_s`` for a slot and is then
answered 429; a request that runs past ``request_time_limit_s`` is answered 503 while its thread finishes in the
background, still holding its slot.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gpuplan.i18n import set_language

T = TypeVar("T")


class BusyError(Exception):
    """All job slots are taken."""


class JobTimeoutError(Exception):
    """The computation ran past the time budget."""


class JobRunner:
    """A bounded thread pool: ``await runner.run(fn, lang=...)``."""

    def __init__(self, max_parallel_jobs: int, time_limit_s: float, queue_wait_s: float = 2.0) -> None:
        self.max_parallel_jobs = max_parallel_jobs
        self.time_limit_s = time_limit_s
        self.queue_wait_s = queue_wait_s
        self._slots = threading.BoundedSemaphore(max_parallel_jobs)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        """The pool, started on first use (and again after a shutdown: an app can be started more than once)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_parallel_jobs, thread_name_prefix="gpuplan-api")
            return self._pool

    async def run(self, fn: Callable[[], T], lang: str) -> T:
        """Run ``fn()`` in a worker with ``lang`` as the current language; BusyError / JobTimeoutError on limits."""
        await self._acquire()
        ctx = contextvars.copy_context()

        def job() -> T:
            try:
                return ctx.run(_with_language, fn, lang)
            finally:
                self._slots.release()

        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor(), job)
        except RuntimeError:
            self._slots.release()
            raise
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=self.time_limit_s)
        except TimeoutError:
            raise JobTimeoutError() from None

    async def _acquire(self) -> None:
        """A slot, polling without blocking the event loop; BusyError after ``queue_wait_s``."""
        deadline = time.monotonic() + self.queue_wait_s
        pause_s = 0.005
        while not self._slots.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise BusyError()
            # Back off to 0.1 s: hundreds of waiting requests must not spend the CPU the jobs need on polling.
            await asyncio.sleep(pause_s)
            pause_s = min(0.1, pause_s * 1.5)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _with_language(fn: Callable[[], T], lang: str) -> T:
    set_language(lang)
    return fn()
