"""Progress bars for long work, and lines that print between them.

Bars draw only on a terminal: in logs (CI, benchmarks, ``nohup``) a redrawn bar is thousands of lines of
noise, while the ``say`` lines still tell what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
_BAR = {"leave": False, "disable": None, "dynamic_ncols": True}  # drawn only on a terminal


def progress(items: Iterable[T], desc: str, unit: str = "it") -> tqdm:
    return tqdm(items, desc=desc, unit=unit, **_BAR)


def say(line: str, file: TextIO | None = None) -> None:
    tqdm.write(line, file=file)


def counter(total: int, desc: str, unit: str = "it") -> tqdm:
    """A bar advanced by hand (``update(n)``), for work that finishes in batches."""
    return tqdm(total=total, desc=desc, unit=unit, **_BAR)
