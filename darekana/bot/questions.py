"""Whether a message asks who a character is: "who is she?", "誰？", "谁啊", "sauce?", as fans ask it.

A question is short (a long message that mentions a name is talk, not a question) and holds one of the
phrases, compared after folding case, width (ＷＨＯ, ｳﾞ), curly quotes and the accents of Latin letters::

    >>> asks = Questions.from_setting("").asks
    >>> asks("who is she?"), asks("ＷＨＯ ＩＳ ＳＨＥ"), asks("Who’s this"), asks("誰？"), asks("谁啊")
    (True, True, True, True, True)
    >>> asks("look at this picture"), asks("what a nice name for a cat, truly the best name?" * 3)
    (False, False)

Phrases in Latin letters match whole words ("who is he" not in "who is heading out"); others, as CJK and
Hangul have no spaces, anywhere in the message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The default list: English, Japanese, Chinese, Korean, Spanish and Portuguese. ``DAREKANA_WATCH_PHRASES``
# replaces it ("|" between phrases).
DEFAULT_PHRASES = (
    "who is she", "who is he", "who is this", "who is that", "who's she", "who's he", "who's this",
    "who's that", "whos this", "whos that", "who dis", "who is it", "who are they", "what's her name",
    "what's his name", "whats her name", "whats his name", "what is her name", "what is his name",
    "name?", "sauce?", "source?", "character name",
    "誰", "だれ", "この子", "名前", "谁", "是谁", "누구", "이름",
    "quién es", "cómo se llama", "quem é", "qual o nome",
)  # fmt: skip
MAX_QUESTION = 80  # characters, once links, mentions and custom emoji are taken out
_NOISE = re.compile(r"https?://\S+|<a?:\w+:\d+>|<[@#][!&]?\d+>")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def fold(text: str) -> str:
    """``text`` as phrases are compared: width and case folded, curly quotes straight, Latin accents
    dropped (not the marks of kana: だ stays だ), spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    plain = []
    for char in text:
        if "LATIN" in unicodedata.name(char, ""):
            char = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        plain.append(char)
    return " ".join("".join(plain).split())


@dataclass(frozen=True)
class Questions:
    phrases: tuple[str, ...]

    @classmethod
    def from_setting(cls, text: str) -> Questions:
        """The phrases of ``DAREKANA_WATCH_PHRASES`` ("|" between them), or the default list when empty."""
        phrases = [p for p in (fold(p) for p in text.split("|")) if p] if text.strip() else DEFAULT_PHRASES
        return cls(tuple(fold(p) for p in phrases))

    def asks(self, text: str) -> bool:
        """Whether a message's text asks who someone is."""
        stripped = _NOISE.sub(" ", text).strip()
        if len(stripped) > 2 * MAX_QUESTION:  # before folding, which is slower: talk, not a question
            return False
        folded = fold(stripped)
        return 0 < len(folded) <= MAX_QUESTION and any(_holds(folded, phrase) for phrase in self.phrases)


def _holds(text: str, phrase: str) -> bool:
    if not phrase.isascii():
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None
