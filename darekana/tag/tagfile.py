"""A tag file being made: what it held before, what this run adds (kept in the journal as it comes), and
the file written whole when the run ends or is stopped with Ctrl-C.

A picture is tagged again when its bytes or the bundle changed; pictures the file holds that this run does
not cover stay in it. A file that cannot be read back is refused, never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from .formats import check_format, read_rows, write_rows
from .journal import Journal
from .records import group_rows, rows_of
from .work import Outcome


class TagFile:
    def __init__(self, out: Path):
        check_format(out)
        self.out = out
        self.journal = Journal(out)
        try:
            earlier = group_rows(read_rows(out)) if out.exists() else []
            self._pictures = {p.picture: p for p in earlier}
            self._pictures.update((p.picture, p) for p in self.journal.read())
        except BaseException:
            self.journal.close()
            raise

    def __len__(self) -> int:
        return len(self._pictures)

    def known(self, bundle: str) -> dict[str, str]:
        """Picture → sha256 of what ``bundle`` already tagged."""
        return {key: p.sha256 for key, p in self._pictures.items() if p.bundle == bundle}

    def add(self, outcomes: list[Outcome]) -> None:
        tagged = [o.tagged for o in outcomes if o.tagged is not None]
        if tagged:  # memory first: a Ctrl-C while the journal is written still saves them
            self._pictures.update((p.picture, p) for p in tagged)
            self.journal.append(tagged)

    def save(self) -> None:
        write_rows(self.out, rows_of(self._pictures.values()))
        self.journal.finish()

    def close(self) -> None:
        self.journal.close()
