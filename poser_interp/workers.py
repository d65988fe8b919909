"""Independent jobs in worker processes: how the zoo build and training against detection use both cores.

On a 2-core machine two one-thread processes do about 1.45x the training work of one two-thread
process (the models are small, so much of a step is per-op overhead that threads do not share).
Workers are spawned, not forked: a forked copy of the parent's OpenMP pool can hang. Each job's
function and arguments must be picklable (module-level functions, `functools.partial` of them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def default_workers() -> int:
    """Two workers where there are two cores or more, else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def in_workers(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], *, workers: int) -> Iterator[T]:
    """`fn(*job)` for every job, in `workers` spawned processes (in order, in this process, for one
    worker or one job); yields each result as it finishes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(fn, *job) for job in jobs]):
            yield future.result()
