"""Which pictures a tagging run covers: folders (walked recursively), files, and lists of paths.

A path names a picture in the output as it was given (``photos/2024/a.jpg`` for the folder ``photos``), so
runs from the same place resume each other. Files that cannot be a picture are reported, never fatal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from darekana.recognizer.images import PICTURE_SUFFIXES

# A folder's walk takes files of PICTURE_SUFFIXES (what the decoder reads) as pictures; other files in it are
# reported as not pictures, unread. A file argument with one of these suffixes (or ``-``, standard input)
# lists paths, one a line.
LIST_SUFFIXES = frozenset({".txt", ".lst"})


@dataclass(frozen=True)
class Picture:
    key: str  # how the output names it
    path: str  # absolute: what a worker opens, wherever it runs


@dataclass(frozen=True)
class Problem:
    picture: str
    reason: str


@dataclass(frozen=True)
class Sources:
    pictures: list[Picture]
    problems: list[Problem]


def gather(arguments: Iterable[str], exclude: Iterable[Path] = ()) -> Sources:
    """The pictures ``arguments`` name, each once, in the order given (a folder's in sorted order), less
    ``exclude`` (the run's own output files, when they sit inside a folder being tagged)."""
    skip = {Path(p).resolve() for p in exclude}
    seen: set[Path] = set()
    pictures: list[Picture] = []
    problems: list[Problem] = []
    for key, reason in _expand(arguments):
        resolved = Path(key).resolve()
        if resolved in skip or resolved in seen:
            continue
        seen.add(resolved)
        if reason:
            problems.append(Problem(key, reason))
        else:
            pictures.append(Picture(key, str(resolved)))
    return Sources(pictures, problems)


def _expand(arguments: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(path, None) for each candidate picture, (path, reason) for what cannot be one."""
    for argument in arguments:
        path = Path(argument)
        if argument == "-":
            yield from _listed(sys.stdin.read().splitlines(), Path.cwd(), "standard input")
        elif path.is_dir():
            yield from _walk(path)
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                yield argument, f"cannot read this list of paths: {exc}"
                continue
            yield from _listed(lines, path.parent, argument)
        elif path.is_file():
            yield argument, None
        else:
            yield argument, "no such file or folder"


def _listed(lines: list[str], base: Path, where: str) -> Iterator[tuple[str, str | None]]:
    """Paths of a list: relative ones from the list's own folder; blank lines and ``#`` comments skipped."""
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if Path(entry).is_absolute() else base / entry
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield str(path), None
        else:
            yield str(path), f"no such file (listed in {where})"


def _walk(folder: Path) -> Iterator[tuple[str, str | None]]:
    """A folder's files, recursively and sorted, hidden files and folders left out."""
    unreadable: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=unreadable.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            suffix = Path(name).suffix.lower()
            yield path, None if suffix in PICTURE_SUFFIXES else f"not a picture ({suffix or 'no extension'})"
    for error in unreadable:
        yield str(error.filename), f"cannot read this folder: {error.strerror}"
