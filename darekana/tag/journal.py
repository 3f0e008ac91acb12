"""The record of a run in progress: beside the tag file ``OUT``, ``OUT.partial`` gets each finished chunk of
pictures as JSON lines, flushed to the disk before the next chunk is taken. A run killed at any moment
(``kill -9`` included) leaves the tag file as it was and this journal holding all it finished but the chunks
in flight, and perhaps half a line, which reading drops. The next run reads both and goes on; when a run ends,
the tag file is rewritten whole and the journal removed.

The journal also keeps two runs off one tag file: the first holds a lock on it.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict
from pathlib import Path

from .records import FaceTag, Tagged

SUFFIX = ".partial"


class Journal:
    def __init__(self, out: Path):
        self.path = out.with_name(out.name + SUFFIX)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a+", encoding="utf-8", newline="")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ValueError(f"{out} is being written by another darekana tag run") from None

    def read(self) -> list[Tagged]:
        """What earlier, interrupted runs finished; a torn last line (the run died writing it) is cut off."""
        self._fh.seek(0)
        pictures, good = [], 0
        for line in self._fh:
            if not line.endswith("\n"):
                break
            try:
                raw = json.loads(line)
                pictures.append(Tagged(**{**raw, "faces": tuple(FaceTag(**f) for f in raw["faces"])}))
            except (ValueError, TypeError, KeyError):
                break
            good += len(line.encode("utf-8"))
        self._fh.truncate(good)
        return pictures

    def append(self, pictures: list[Tagged]) -> None:
        self._fh.seek(0, os.SEEK_END)
        self._fh.write("".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pictures))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def finish(self) -> None:
        """The tag file holds it all now: drop the journal (and with it the lock)."""
        self.path.unlink(missing_ok=True)
        self._fh.close()

    def close(self) -> None:
        """Let go of the tag file; an empty journal (a run that tagged nothing) is not left behind."""
        if not self._fh.closed and self._fh.seek(0, os.SEEK_END) == 0:
            self.path.unlink(missing_ok=True)
        self._fh.close()
