"""What ``darekana tag`` can be told, and its defaults: the one place for them, read by the command line
(``darekana.cli.tag``) and by the tagger."""

from __future__ import annotations

from dataclasses import dataclass

from darekana.recognizer.results import TOP_K


@dataclass(frozen=True)
class TagConfig:
    """``darekana tag``: naming the characters of a whole collection. ``workers``: processes (or Ray actors),
    each with the bundle loaded and one ONNX Runtime thread; 0 means one per core (on Ray: per CPU of the
    cluster). ``chunk``: pictures a worker takes at once, their faces batched through the network; an
    interrupted run loses at most the chunks in flight. ``whole_picture``: classify a picture in which no face
    is found as one face (for folders of face crops); off, such a picture gets a line saying it has no face.
    """

    workers: int = 0
    chunk: int = 8
    top_k: int = TOP_K
    whole_picture: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0 or self.chunk < 1 or self.top_k < 1:
            raise ValueError("tagging needs workers ≥ 0 (0: one a core), a chunk of ≥ 1 picture and top-k ≥ 1")
