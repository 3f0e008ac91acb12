"""Character names as people and folders spell them, compared one way everywhere: training merges folders
with it, the bot matches typed names with it.

>>> words("000_Hatsune-Miku")
('hatsune', 'miku')
>>> character_key("Rem (Re:Zero)")
'rem_re_zero'
>>> display_name("irys_(hololive)")
'Irys (Hololive)'
>>> booru_tag("000_hatsune_miku"), booru_tag("irys_(hololive)")
('hatsune_miku', 'irys_(hololive)')
"""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[\W_]+")
_NAGADOMI_PREFIX = re.compile(r"^\d{3} ")  # nagadomi's folders are numbered: "000_hatsune_miku"
_NAGADOMI_ID = re.compile(r"^\d{3}_")  # the same number on a label id


def words(text: str) -> tuple[str, ...]:
    """The words of a name, ignoring case, punctuation and nagadomi's ``NNN_`` prefix."""
    return tuple(_NAGADOMI_PREFIX.sub("", _NON_WORD.sub(" ", text.casefold()).strip()).split())


def character_key(text: str) -> str:
    """What makes two spellings one character: ``000_Hatsune-Miku`` and ``hatsune miku`` → ``hatsune_miku``."""
    return "_".join(words(text))


def display_name(label_id: str) -> str:
    """A label id as people read it: ``000_hatsune_miku`` → ``Hatsune Miku``."""
    return _NAGADOMI_ID.sub("", label_id).replace("_", " ").title()


def booru_tag(label_id: str) -> str:
    """A label id as a booru tags the character: ``000_hatsune_miku`` → ``hatsune_miku``; Danbooru's own tags,
    as hololive-20's folders are, stay as they are."""
    return _NAGADOMI_ID.sub("", label_id).casefold().replace(" ", "_")
