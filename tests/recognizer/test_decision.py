"""The decision rule on hand-made distances: the enrolment margin routes faces to enrolled centres, and a
centre's spread (how many crops it was made from) says how far is "unknown" for it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from darekana.recognizer.bundle import Label, Thresholds
from darekana.recognizer.decision import centre_spread, may_be_confident, pad_primary, route, verdicts
from darekana.recognizer.results import Model, Verdict

N_NETWORK = 2  # two known characters, one enrolled (label 2)
THRESHOLDS = Thresholds(primary=0.5, confident=0.9, distance=1.0, temperature=1.0, doubt=0.0)


def decide(distances: list[float], margin: float, crops: int | None = None) -> tuple[int, float, int]:
    """(model code, distance judged, verdict code) for one face nearest the enrolled centre, made from
    ``crops`` crops (None: judged as a known character's)."""
    thresholds = replace(THRESHOLDS, enrolled_margin=margin)
    d = np.array([distances])
    primary = pad_primary(np.array([[0.0, 0.0]]), 3)
    fallback = np.array([[0.5, 0.5, 0.0]])
    spread = None if crops is None else centre_spread([Label("a", "A"), Label("b", "B"), Label("c", "C", crops)])
    routed = route(primary, fallback, d, N_NETWORK, thresholds, spread)
    return int(routed.model[0]), float(routed.distance[0]), int(verdicts(routed, thresholds)[0])


@pytest.mark.parametrize("margin", [-0.2, 0.0])
def test_a_negative_margin_routes_but_never_makes_an_enrolled_characters_own_face_unknown(margin: float):
    model, distance, verdict = decide([2.0, 2.5, 0.9], margin)  # nearest the enrolled centre, within 1.0
    assert model == Model.CENTRES.code
    assert distance == pytest.approx(0.9)  # as far as it is: held to the known characters' distance
    assert verdict != Verdict.UNKNOWN.code


def test_a_negative_margin_still_keeps_faces_nearly_as_near_a_known_centre_from_an_enrolled_one():
    model, _, _ = decide([1.0, 2.5, 0.9], -0.2)  # 0.9 + 0.2 > 1.0: the known character answers
    assert model != Model.CENTRES.code


def test_a_label_of_one_crop_never_answers_confidently():
    labels = [Label("a", "A"), Label("b", "B"), Label("new", "New", crops=1)]
    primary, fallback = pad_primary(np.zeros((1, 2)), 3), np.array([[0.5, 0.5, 0.0]])
    routed = route(primary, fallback, np.array([[2.0, 2.5, 0.1]]), N_NETWORK, THRESHOLDS)
    assert routed.model[0] == Model.CENTRES.code and routed.probs.max() >= THRESHOLDS.confident
    assert verdicts(routed, THRESHOLDS)[0] == Verdict.CONFIDENT.code
    assert verdicts(routed, THRESHOLDS, may_be_confident(labels))[0] == Verdict.UNSURE.code
    twice = [*labels[:2], replace(labels[2], crops=2)]
    assert verdicts(routed, THRESHOLDS, may_be_confident(twice))[0] == Verdict.CONFIDENT.code


def test_the_spread_of_a_centre_grows_as_its_crops_fall():
    labels = [Label("known", "Known"), *(Label(f"e{k}", "E", crops=k) for k in (1, 5, 100))]
    assert centre_spread(labels) == pytest.approx([1.0, 2**0.5, 1.2**0.5, 1.01**0.5])


@pytest.mark.parametrize("margin", [-0.2, 0.0, 0.3])
def test_a_centre_of_few_crops_is_judged_by_its_spread_whatever_the_margin(margin: float):
    model, distance, verdict = decide([2.0, 2.5, 1.2], margin, crops=1)  # 1.2 / sqrt(2) = 0.85, within 1.0
    assert model == Model.CENTRES.code and distance == pytest.approx(1.2 / 2**0.5)
    assert verdict != Verdict.UNKNOWN.code
    assert decide([2.0, 2.5, 1.5], margin, crops=1)[2] == Verdict.UNKNOWN.code  # 1.06: too far even so
    assert decide([2.0, 2.5, 1.2], margin, crops=20)[2] == Verdict.UNKNOWN.code  # 1.17: 20 crops vouch less slack
