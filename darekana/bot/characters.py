"""Matching what people type to a character: ``miku`` → ``hatsune_miku``, ``Miku Hatsune`` too.

A typed name matches, in order: a label id, display name or alias exactly (ignoring case, spacing and
punctuation); then the one character whose name contains every typed word; then the one closest spelling.
Anything else is a character the model does not know yet, kept under a label made from the typed name so
that moderators can review it and retraining can learn it.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass

from darekana.recognizer.names import character_key, words

from .errors import BadRequest
from .records import Character

MAX_NAME = 100


@dataclass(frozen=True)
class Match:
    label: str
    name: str
    known: bool  # False: a name no character has yet (neither the bundle nor an earlier correction)


def clean_name(text: str) -> str:
    """The typed name with spacing normalised, or BadRequest when it cannot be a name."""
    text = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not text:
        raise BadRequest("tell me the character's name")
    if len(text) > MAX_NAME:
        raise BadRequest(f"that name is too long ({len(text)} characters; at most {MAX_NAME})")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise BadRequest("that name has control characters in it")
    return text


def slug(text: str) -> str:
    """The label a new character's typed name is kept under."""
    return character_key(text)[:MAX_NAME] or text


def resolve(text: str, characters: list[Character]) -> Match:
    name = clean_name(text)
    typed = words(name)
    if not typed:
        raise BadRequest("tell me the character's name")
    spellings = {c.label: [words(c.label), words(c.name), *(words(a) for a in c.aliases)] for c in characters}
    by_label = {c.label: c for c in characters}
    exact = [label for label, forms in spellings.items() if any(f == typed or f == typed[::-1] for f in forms)]
    partial = [label for label, forms in spellings.items() if any(set(typed) <= set(f) for f in forms)]
    for found in (sorted(set(exact)), sorted(set(partial))):
        if len(found) == 1:
            return Match(found[0], by_label[found[0]].name, True)
        if len(found) > 1:
            options = " or ".join(sorted(by_label[label].name for label in found)[:5])
            raise BadRequest(f"{name!r} could be {options}: say which")
    joined = {" ".join(f): label for label, forms in spellings.items() for f in forms}
    close = difflib.get_close_matches(" ".join(typed), list(joined), n=2, cutoff=0.85)
    if close and len({joined[c] for c in close}) == 1:
        label = joined[close[0]]
        return Match(label, by_label[label].name, True)
    return Match(slug(name), name, False)
