"""A progress bar for long runs (rich, on stderr): one bar per scenario, a step per window.

`run_rounds` announces the windows it will run and advances the bar after each; a run
with no bar open (the tests, the scripts) reports nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

_bar: Progress | None = None
_task: TaskID | None = None


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[None]:
    """Show the bar while the block runs (when enabled and stderr is a terminal)."""
    global _bar
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield
        return
    _bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    try:
        with _bar:
            yield
    finally:
        _bar = None


@contextlib.contextmanager
def scenario(name: str) -> Iterator[None]:
    """One bar for the scenario's measured windows, announced as they become known."""
    global _task
    if _bar is None:
        yield
        return
    _task = _bar.add_task(name, total=0)
    try:
        yield
    finally:
        _bar.update(_task, completed=_bar.tasks[_task].total or 0)
        _task = None


def expect(windows: int) -> None:
    """The current scenario will run `windows` more measured windows."""
    if _bar is not None and _task is not None:
        _bar.update(_task, total=(_bar.tasks[_task].total or 0) + windows)


def advance() -> None:
    if _bar is not None and _task is not None:
        _bar.advance(_task)
