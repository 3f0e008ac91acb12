"""What the service hands back to the adapters: an answer and what is said of it, an acknowledged
correction, an enrolment. Plain data; each says its own text, which every platform shows alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from darekana.recognizer.decision import MIN_CONFIDENT_CROPS
from darekana.recognizer.describe import describe, describe_face
from darekana.recognizer.results import Face, Recognition, Verdict

from .enrolment import Gate
from .records import Kind

SERVER_MARK = "(this server's character)"  # after a name a server's own character gave, in its replies


@dataclass(frozen=True)
class Reply:
    """A stored recognition and what is said of it. Face ``n`` (numbered from 1, as in ``lines`` and on the
    annotated picture) is ``recognition.faces[n - 1]``, stored as ``face_ids[n - 1]``."""

    recognition_id: int
    recognition: Recognition
    face_ids: list[int]
    lines: list[str]  # "1. Hatsune Miku (97%)", "2. not sure: maybe ...", "3. I don't know this character"
    annotated_png: bytes | None = field(default=None, repr=False)  # when there are several faces
    delete_token: str | None = field(default=None, repr=False)  # deletes it (HTTP answers); shown once, never stored

    @property
    def faces(self) -> list[Face]:
        return self.recognition.faces

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def named_any(self) -> bool:
        """Whether some face is named with confidence."""
        return any(face.verdict is Verdict.CONFIDENT for face in self.faces)

    def to_dict(self) -> dict:
        result = self.recognition
        faces = [
            {"id": face_id, "number": number, **face.to_dict(), "text": describe_face(face)}
            for number, (face_id, face) in enumerate(zip(self.face_ids, self.faces), start=1)
        ]
        return {
            "recognition_id": self.recognition_id,
            "faces": faces,
            "text": self.text,
            "faces_detected": result.faces_detected,
            "width": result.width,
            "height": result.height,
            "bundle": result.bundle,
        }


@dataclass(frozen=True)
class Ack:
    """A stored correction or confirmation."""

    id: int
    face_id: int
    kind: Kind
    label: str
    name: str
    known: bool

    @property
    def text(self) -> str:
        if self.kind is Kind.CONFIRMATION:
            return f"Thanks! Noted that this is {self.name}."
        new = "" if self.known else " (a character I don't know yet: moderators will review it)"
        return f"Thanks! Saved: this is {self.name}{new}."


@dataclass(frozen=True)
class Enrolled:
    """A group of faces enrolled as a character, in a bundle that passed the gate and answers now."""

    group_id: int
    label: str
    name: str
    faces: int
    bundle: str  # the version now answering
    gate: Gate

    @property
    def text(self) -> str:
        return f"Enrolled {self.faces} faces as {self.name}: {self.bundle} answers now."


@dataclass(frozen=True)
class ServerEnrolled:
    """A character of one server only, stored and answering there now."""

    label: str
    name: str
    crops: int
    in_bundle: bool  # the bundle knows it too: a face is answered once, by the nearer centre

    @property
    def text(self) -> str:
        also = f" I know {self.name} too: a face is answered once, by the nearer of the two." if self.in_bundle else ""
        few = (
            f" From fewer than {MIN_CONFIDENT_CROPS} faces I am never sure of it: remove it and enroll more faces."
            if self.crops < MIN_CONFIDENT_CROPS
            else ""
        )
        return (
            f"Enrolled {self.crops} faces as {self.name}, a character of this server only: faces asked about "
            f"here are now also compared with it, nowhere else.{also}{few}"
        )


def told(result: Recognition, server_faces: frozenset[int] = frozenset()) -> list[str]:
    """The lines an answer says of ``result``: a face one of the server's own characters named (the indexes
    ``server_faces``) says so; only in the words, what is stored and sent as data keeps the name."""
    faces = [_server_named(face) if i in server_faces else face for i, face in enumerate(result.faces)]
    return describe(dataclasses.replace(result, faces=faces))


def _server_named(face: Face) -> Face:
    top, *rest = face.candidates
    return dataclasses.replace(face, candidates=[dataclasses.replace(top, name=f"{top.name} {SERVER_MARK}"), *rest])
