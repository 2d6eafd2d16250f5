"""Progress reporting seam: library code reports steps, only the CLI draws bars.

Library functions take ``progress: Progress | None``; ``None`` means silent. A step is opened with
``with progress.step("Parsing OSM", total=n) as advance: ... advance(k)``. ``total=None`` gives a
spinner for steps whose size is unknown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


def printable(text: object) -> str:
    """`text` as a terminal may show it: control characters written as ``\\xNN``.

    Input text reaches the console (collector ids in the summary, file names in bars and
    errors); an escape sequence in it would recolour, retitle or rewrite the dispatcher's
    terminal. Line breaks and tabs are kept.
    """
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) != "Cc"
                   else f"\\x{ord(ch):02x}" for ch in str(text))


def plain_console(**kwargs: Any) -> Console:
    """A rich console that shows text as written: no markup (``[/]`` in a name is text, not a
    tag), no emoji codes (``:smile:``), no highlighting."""
    # rich only when something is drawn: the library itself never needs it
    from rich.console import Console

    return Console(markup=False, emoji=False, highlight=False, **kwargs)


class Advance(Protocol):
    def __call__(self, n: int = 1) -> None:  # pragma: no cover - protocol
        """The step has advanced by `n` (of its ``total``)."""


class Progress(Protocol):
    def step(self, description: str, total: int | None = None
             ) -> AbstractContextManager[Advance]:  # pragma: no cover - protocol
        """Context manager yielding ``advance(n=1)``."""
        ...


def no_advance(n: int = 1) -> None:
    """The ``advance`` of a reporter that does not show how far a step is."""


class SilentProgress:
    """A progress reporter that reports nothing."""

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield no_advance


def ensure(progress: Progress | None) -> Progress:
    return progress if progress is not None else SilentProgress()


class RichProgress:
    """Progress bars on stderr with rich; used by the CLI."""

    def __init__(self, *, disable: bool = False) -> None:
        self._console = plain_console(stderr=True)
        self._disable = disable

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as _P

        cols = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn()]
        if total is not None:
            cols.append(MofNCompleteColumn())
        cols.append(TimeElapsedColumn())
        with _P(*cols, console=self._console, transient=False, disable=self._disable) as p:
            task = p.add_task(printable(description), total=total)

            def advance(n: int = 1) -> None:
                p.advance(task, n)

            yield advance
            if total is not None:
                p.update(task, completed=total)


class Labelled:
    """Another reporter's steps, each description prefixed with a label (e.g. the day of a
    multi-day plan: one set of bars per day)."""

    def __init__(self, inner: Progress, label: str) -> None:
        self._inner = inner
        self._label = label

    def step(self, description: str, total: int | None = None
             ) -> AbstractContextManager[Advance]:
        return self._inner.step(f"{self._label}: {description}", total=total)


def labelled(progress: Progress | None, label: str) -> Progress | None:
    """`progress` with its steps labelled (None stays None: silent)."""
    return None if progress is None else Labelled(progress, label)
