"""What a tagging run did, counted as outcomes come in, and said in a few lines at the end."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from darekana.recognizer.results import Verdict

from .work import Outcome, Status


@dataclass
class Summary:
    pictures: int = 0
    tagged: int = 0
    kept: int = 0  # already in the tag file
    failed: int = 0
    faces: int = 0
    unknown: int = 0
    characters: Counter[str] = field(default_factory=Counter)  # named faces (not unknown), by name
    confident: int = 0
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.pictures += 1
        self.seconds = time.perf_counter() - self.started
        if outcome.status is Status.KEPT:
            self.kept += 1
        elif outcome.status is Status.FAILED:
            self.failed += 1
        elif outcome.tagged is not None:
            self.tagged += 1
            for face in outcome.tagged.faces:
                self.faces += 1
                if face.verdict == Verdict.UNKNOWN:
                    self.unknown += 1
                    continue
                self.characters[face.name] += 1
                self.confident += face.verdict == Verdict.CONFIDENT

    @property
    def pictures_per_s(self) -> float:
        """Pictures tagged (not kept or failed) a second."""
        return self.tagged / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "pictures": self.pictures,
            "tagged": self.tagged,
            "kept": self.kept,
            "failed": self.failed,
            "faces": self.faces,
            "confident": self.confident,
            "unknown_share": round(self.unknown / self.faces, 4) if self.faces else None,
            "characters": dict(self.characters.most_common()),
            "seconds": round(self.seconds, 2),
            "pictures_per_s": round(self.pictures_per_s, 2),
        }

    def lines(self, top: int = 10) -> list[str]:
        unknown = f"{self.unknown / self.faces:.0%}" if self.faces else "–"
        lines = [
            f"{self.pictures} pictures: {self.tagged} tagged, {self.kept} already tagged, {self.failed} unreadable",
            f"{self.faces} faces: {self.confident} named with confidence, {unknown} unknown",
            f"{self.pictures_per_s:.1f} pictures/s over {self.seconds:.1f} s",
        ]
        if self.characters:
            common = ", ".join(f"{name} {n}" for name, n in self.characters.most_common(top))
            more = len(self.characters) - top
            lines.append(f"characters: {common}" + (f" and {more} more" if more > 0 else ""))
        return lines
