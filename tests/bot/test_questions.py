"""What counts as asking who a character is, in the languages of the community."""

from __future__ import annotations

import pytest

from darekana.bot.questions import MAX_QUESTION, Questions
from darekana.bot.settings import Settings

QUESTIONS = Questions.from_setting(Settings().watch_phrases)


@pytest.mark.parametrize(
    "text",
    [
        "who is she?", "Who's this", "WHO IS THAT", "whos this lol", "what's her name?", "name?", "sauce?",
        "ｗｈｏ　ｉｓ　ｓｈｅ？",  # full width
        "who’s he", "<@123> who is she", "https://example.com/x.png who is this",
        "誰？", "この子誰", "名前は？", "だれ", "谁啊", "这是谁", "누구야?", "¿Quién es?", "quien es ella", "Quem é?",
    ],
)  # fmt: skip
def test_questions_people_ask(text: str):
    assert QUESTIONS.asks(text), text


@pytest.mark.parametrize(
    "text",
    [
        "", "look at my new wallpaper", "who is heading out tonight", "great sauce recipe", "nice name", "https://x.y/z",
        "who is she? " + "really " * MAX_QUESTION,  # a long message is talk, not a question
    ],
)  # fmt: skip
def test_talk_that_is_no_question(text: str):
    assert not QUESTIONS.asks(text), text


def test_the_phrases_are_a_setting():
    mine = Questions.from_setting("dare da | ＷＨＯ ＤＡＴ")
    assert mine.asks("dare da?") and mine.asks("who dat") and not mine.asks("who is she?")
