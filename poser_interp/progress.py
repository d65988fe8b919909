"""Progress bars: each per-model loop's bar, and one overall bar above them for a multi-step job.

Inside `overall(...)` (as `poser-interp figures` runs every strategy), `progress_bar` adds its task
to the overall display, beneath the overall bar, instead of opening a second live display.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_ACTIVE: ContextVar[Any] = ContextVar("overall_progress", default=None)


def _columns(remaining: bool = False) -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    tail = [TimeElapsedColumn(), TimeRemainingColumn()] if remaining else [MofNCompleteColumn(), TimeElapsedColumn()]
    return [TextColumn("{task.description}"), BarColumn(), *tail]


def progress_bar(enabled: bool):  # -> rich.progress.Progress or a stand-in with add_task / update
    """The rich progress bar every per-model loop shows (a silent stand-in when disabled; a task of
    the overall display when one is active)."""
    if not enabled:
        return _NoProgress()
    active = _ACTIVE.get()
    if active is not None:
        return contextlib.nullcontext(active)
    from rich.progress import Progress

    return Progress(*_columns())


@contextlib.contextmanager
def overall(description: str, total: float, *, enabled: bool = True) -> Iterator[Any]:
    """One overall bar (`total` in any unit, e.g. estimated seconds) with every `progress_bar` beneath it.
    Yields the rich `Progress` (`.advance(amount)` via `update`, `.console.print` for log lines)."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(*_columns(remaining=True)) as bar:
        task = bar.add_task(description, total=total)
        bar.overall_task = task
        token = _ACTIVE.set(bar)
        try:
            yield bar
        finally:
            _ACTIVE.reset(token)
            bar.update(task, completed=total)


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None
