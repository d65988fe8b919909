"""Independent jobs in worker processes: how the zoo build and training against detection use both cores.

On a 2-core machine two one-thread processes do about 1.45x the training work of one two-thread
process (the models are small, so much of a step is per-op overhead that threads do not share).
Workers are spawned, not forked: a forked copy of the parent's OpenMP pool can hang. Each job's
function and arguments must be picklable (module-level functions, `functools.partial` of them).
Workers never outlive their parent: a killed parent (SIGTERM, SIGKILL) takes them with it on Linux,
and an exception or an abandoned iteration kills them instead of waiting for their jobs to end.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def default_workers() -> int:
    """Two workers where there are two cores or more, else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def die_with_parent() -> None:
    """Worker initializer: ask Linux to kill this process when its parent dies (a no-op elsewhere).

    A parent stopped by SIGTERM or SIGKILL runs no clean-up, so without this its workers go on
    training for minutes, competing with whatever runs next."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def in_workers(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], *, workers: int) -> Iterator[T]:
    """`fn(*job)` for every job, in `workers` spawned processes (in order, in this process, for one
    worker or one job); yields each result as it finishes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent)
    try:
        for future in as_completed([pool.submit(fn, *job) for job in jobs]):
            yield future.result()
    except BaseException:  # an error, Ctrl-C or a consumer that stopped early: do not wait for the rest
        processes = list((pool._processes or {}).values())  # private, but Python 3.11 has no terminate_workers()
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        raise
    pool.shutdown()
