"""The words of darekana on X: answers that fit in one post, and what people reply to them.

Posts are measured as X measures them (twitter-text's weighted length): most Latin, Greek, Cyrillic and
similar scripts count 1 per character, everything else (CJK, emoji) 2, at most 280 in all. Counting each
code point on its own over-counts some emoji sequences, never under-counts, so a post that fits here fits
on X.

Replies to one of the bot's answers (the ``@handles`` X puts in front are ignored, case too):

* ``right`` (or ``correct``, ``yes``) confirms the answer; ``#2 right`` confirms face 2;
* ``it's <name>``, ``wrong, <name>`` or ``wrong, it's <name>`` corrects it; ``#2 <name>``,
  ``it's 2: <name>`` or ``wrong, #2 is <name>`` corrects face 2.

A mention (a reply to anything, or a post of its own) saying only ``forget`` (or ``forget me``) asks the bot
to delete everything that account sent or said (:func:`asks_to_forget`).

Without a number the reply is about face 1 when the picture had one face; with several faces the number
is needed. Anything else in a reply is conversation, which the bot leaves alone.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from darekana.recognizer.describe import percent
from darekana.recognizer.results import Face, Verdict

from ..records import Kind
from ..replies import Reply

MAX_WEIGHT = 280
# twitter-text v3: these code point ranges weigh 1, everything else 2.
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
NAME_CUTS = (None, 24, 12)  # ever shorter names, tried in turn until the answer fits

_HANDLES = re.compile(r"^(?:\s*@\w+)+")
_FORGET = re.compile(r"^forget(?:\s+me)?[\s.!]*$", re.IGNORECASE)
_NUMBER = r"(?:#\s*(?P<hash>\d{1,2})|(?P<bare>\d{1,2})\s*[:.)])[\s,:]*(?:is\s+)?"
_CONFIRM = re.compile(rf"^(?:{_NUMBER})?(?:right|correct|yes)\W*$", re.IGNORECASE)
_CORRECT = re.compile(
    rf"^(?P<wrong>(?:wrong|no)\b[\s,:;.!-]*)?"
    rf"(?P<its>(?:it[’']?s|it is|that[’']?s|that is|this is)\s+)?"
    rf"(?:{_NUMBER})?(?P<name>.*?)[\s.!?]*$",
    re.IGNORECASE,
)


def weighted_length(text: str) -> int:
    return sum(
        1 if any(low <= ord(ch) <= high for low, high in LIGHT_RANGES) else 2
        for ch in unicodedata.normalize("NFC", text)
    )


def fits(text: str) -> bool:
    return weighted_length(text) <= MAX_WEIGHT


def answer_text(reply: Reply) -> str:
    """The reply in one post: the service's own lines when they fit, else one short line per face with
    ever shorter names, else as many faces as fit and how many more there were."""
    header = reply.lines[: len(reply.lines) - len(reply.faces)]  # "no anime face found …" lines
    tiers = [reply.lines] + [
        header + [_short_line(number, face, cut) for number, face in enumerate(reply.faces, 1)] for cut in NAME_CUTS
    ]
    for lines in tiers:
        if fits("\n".join(lines)):
            return "\n".join(lines)
    return _as_many_as_fit(tiers[-1])


def clip(text: str) -> str:
    """``text`` cut to fit one post (acknowledgements and refusals are short; names in them may not be)."""
    while not fits(text):
        text = text[:-2] + "…"
    return text


def _short_line(number: int, face: Face, cut: int | None) -> str:
    name = face.name if cut is None or len(face.name) <= cut else face.name[: cut - 1] + "…"
    if face.verdict is Verdict.CONFIDENT:
        return f"{number}. {name} ({percent(face.confidence)})"
    if face.verdict is Verdict.UNSURE:
        return f"{number}. maybe {name}?"
    return f"{number}. ?"


def _as_many_as_fit(lines: list[str]) -> str:
    for kept in range(len(lines) - 1, 0, -1):
        text = "\n".join(lines[:kept] + [f"+{len(lines) - kept} more"])
        if fits(text):
            return text
    return clip(lines[0])


@dataclass(frozen=True)
class Said:
    """What a reply to one of the bot's answers says about a face."""

    kind: Kind
    face: int | None  # the face's number in the answer; None when the reply gives none
    name: str = ""


def asks_to_forget(text: str) -> bool:
    """Whether a mention's text (as the X API sends it) asks the bot to forget its author."""
    return bool(_FORGET.match(_HANDLES.sub("", html.unescape(text)).strip()))


def parse_feedback(text: str) -> Said | None:
    """A confirmation or correction in a reply's text (as the X API sends it), else None."""
    text = _HANDLES.sub("", html.unescape(text)).strip()  # the API escapes &, < and >
    if match := _CONFIRM.match(text):
        return Said(Kind.CONFIRMATION, _number(match))
    match = _CORRECT.match(text)
    if match is None:  # text over several lines (the name may not span them): talk, not feedback
        return None
    number = _number(match)
    said_wrong = match["wrong"] or match["its"] or number is not None  # else it is just talk
    if said_wrong and match["name"]:
        return Said(Kind.CORRECTION, number, match["name"])
    return None


def _number(match: re.Match[str]) -> int | None:
    found = match["hash"] or match["bare"]
    return int(found) if found else None
