"""Worker processes for CPU-bound work that holds Python's GIL (post-processing thousands of buildings).

Shapely 1.8 (Debian's) shares one GEOS context between threads, which GEOS does not allow, and its per-object
Python overhead holds the GIL, so threads are neither safe nor much faster (1.3× with two measured); worker
processes are. They are started with ``spawn`` (never ``fork``: the parent holds QGIS, Qt and torch threads) and
with an explicit Python interpreter, because inside QGIS or qgis_process ``sys.executable`` is QGIS itself.
Anything that goes wrong with the workers falls back to doing the work in this process.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: Environment variable: the number of worker processes (1 = none; default: one per CPU core, at most 8).
WORKERS_VARIABLE = "BUILDING_EXTRACTOR_WORKERS"
MAX_WORKERS = 8


def worker_count(small_job: bool) -> int:
    """Worker processes to use: the environment variable if set, 1 for small jobs, else the CPU cores (≤ 8)."""
    configured = os.environ.get(WORKERS_VARIABLE, "").strip()
    if configured.isdigit():
        return max(1, int(configured))
    if small_job:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
                      MAX_WORKERS))


def python_executable() -> str | None:
    """The interpreter of this Python installation (its prefix, its version) to run workers with; None if none.

    Not ``sys.executable`` first: embedded in QGIS it is QGIS, or whatever ``python3`` comes first on PATH
    (e.g. a pyenv build of another patch level, whose C API does not match this installation's numpy).
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = []
    for prefix in dict.fromkeys((sys.exec_prefix, sys.prefix, sys.base_exec_prefix)):
        candidates += [os.path.join(prefix, "bin", f"python{version}"), os.path.join(prefix, "bin", "python3"),
                       os.path.join(prefix, "python.exe"), os.path.join(prefix, "python3.exe")]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


_EXECUTABLE_LOCK = threading.Lock()
_EXECUTABLE_USERS: list[Any] = []  # [executable before the first pool, one entry per open pool...]


@contextmanager
def process_pool(workers: int, initializer: Callable[[], None] | None = None, start: bool = False) -> Iterator[Any]:
    """A ``spawn`` ProcessPoolExecutor with ``workers`` processes, or None (one worker, or no interpreter found).

    ``initializer`` runs in each process as it starts; ``start`` starts the processes now (they would start
    with the first jobs), so that they start while this process does other work.
    The interpreter multiprocessing spawns with is process-wide; it is set for the pool's life and restored.
    """
    executable = python_executable() if workers > 1 else None
    if executable is None:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import spawn

    with _EXECUTABLE_LOCK:  # runs may overlap (two dialogs): the first sets it, the last restores it
        if not _EXECUTABLE_USERS:
            _EXECUTABLE_USERS.append(spawn.get_executable())
            spawn.set_executable(executable)
        _EXECUTABLE_USERS.append(executable)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer)
    try:
        if start:  # a process is started for each job submitted while none is idle
            for _ in range(workers):
                pool.submit(os.getpid)
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        with _EXECUTABLE_LOCK:
            _EXECUTABLE_USERS.pop()
            if len(_EXECUTABLE_USERS) == 1:
                spawn.set_executable(_EXECUTABLE_USERS.pop())


def ordered_map(function: Callable[..., Any], jobs: Iterable[tuple], pool: Any, ahead: int,
                on_fallback: Callable[[str], None] | None = None) -> Iterator[Any]:
    """``function(*job)`` for each job, in order; at most ``ahead`` jobs in flight in ``pool`` (None: here).

    If the pool breaks (a worker could not start or died), the remaining jobs run here, after one message to
    ``on_fallback``. Exceptions raised by ``function`` itself reach the caller either way.
    """
    from concurrent.futures.process import BrokenProcessPool

    jobs = iter(jobs)
    pending: deque[tuple[tuple, Any]] = deque()

    def submit() -> bool:
        job = next(jobs, None)
        if job is None:
            return False
        try:
            pending.append((job, pool.submit(function, *job)))
        except BrokenProcessPool:
            pending.append((job, None))  # handled as a broken pool when its turn comes
        return True

    if pool is not None:
        while len(pending) < ahead and submit():
            pass
    while pending:
        job, future = pending.popleft()
        try:
            if future is None:
                raise BrokenProcessPool("the pool broke before this job was sent")
            result = future.result()
        except BrokenProcessPool as exc:
            if on_fallback:
                on_fallback(f"Worker processes failed ({exc}); continuing in this process.")
            for retry in [job, *(queued for queued, _ in pending)]:
                yield function(*retry)
            pending.clear()
            break
        submit()
        yield result
    for job in jobs:
        yield function(*job)
