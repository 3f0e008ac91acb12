"""Matching typed names to characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darekana.bot.characters import clean_name, resolve, slug
from darekana.bot.errors import BadRequest
from darekana.bot.records import Character

CHARACTERS = [
    Character("000_hatsune_miku", "Hatsune Miku", [], True),
    Character("001_kagamine_rin", "Kagamine Rin", [], True),
    Character("002_kagamine_len", "Kagamine Len", [], True),
    Character("izumi_konata", "Izumi Konata", ["Kona-chan"], True),
    Character("irys_(hololive)", "Irys (Hololive)", [], False),
]


@pytest.mark.parametrize(
    "typed, label",
    [
        ("miku", "000_hatsune_miku"),
        ("Miku Hatsune", "000_hatsune_miku"),
        ("hatsune_miku", "000_hatsune_miku"),
        ("000_hatsune_miku", "000_hatsune_miku"),
        ("HATSUNE  MIKU", "000_hatsune_miku"),
        ("hatsne miku", "000_hatsune_miku"),
        ("kagamine rin", "001_kagamine_rin"),
        ("kona chan", "izumi_konata"),
        ("irys", "irys_(hololive)"),
        ("ｍｉｋｕ", "000_hatsune_miku"),  # full-width letters, as Japanese keyboards type them
    ],
)
def test_known_characters(typed: str, label: str):
    match = resolve(typed, CHARACTERS)
    assert (match.label, match.known) == (label, True)


def test_new_names_get_a_label_of_their_own():
    match = resolve("  Gawr   Gura ", CHARACTERS)
    assert (match.label, match.name, match.known) == ("gawr_gura", "Gawr Gura", False)
    assert resolve("初音ミク", CHARACTERS).label == "初音ミク"
    assert slug("Rem (Re:Zero)") == "rem_re_zero"


def test_ambiguous_names_ask_which():
    with pytest.raises(BadRequest, match="could be Kagamine Len or Kagamine Rin"):
        resolve("kagamine", CHARACTERS)


@pytest.mark.parametrize(
    "typed, message",
    [("", "tell me"), ("  \n ", "tell me"), ("!!!", "tell me"), ("a" * 101, "too long"), ("mi\u200bku", "control")],
)
def test_bad_names(typed: str, message: str):
    with pytest.raises(BadRequest, match=message):
        resolve(typed, CHARACTERS)


def test_clean_name_keeps_a_name_readable():
    assert clean_name(" Hatsune\tMiku ") == "Hatsune Miku"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_typed_name_is_a_match_or_a_clear_refusal(typed: str):
    try:
        match = resolve(typed, CHARACTERS)
    except BadRequest as exc:
        assert exc.message and len(exc.message) < 400
        return
    known = {c.label: c.name for c in CHARACTERS}
    if match.known:
        assert known[match.label] == match.name
    else:  # a new character: a label made of the name's words, the name as typed (spacing normalised)
        assert match.label not in known and 0 < len(match.label) <= 100 and match.name == clean_name(typed)
