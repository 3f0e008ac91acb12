"""The class-centre model's distances: absolute, and relative to faces in general."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from darekana.recognizer.centres import load_centres
from darekana.recognizer.embeddings import Embedded, calibration_faces
from darekana.recognizer.layout import CENTRES_FORMAT
from darekana.train.fallback import MIN_SPREAD_FACES, fit_centres, spread_faces


def _faces(seed: int = 0, n: int = 600, classes: int = 6, dim: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, dim))
    unit = centres[targets] + 0.5 * rng.normal(size=(n, dim))
    return unit / np.linalg.norm(unit, axis=1, keepdims=True), targets


def test_the_background_is_the_mahalanobis_distance_under_the_spread_within_plus_between():
    unit, targets = _faces()
    centres = fit_centres(unit, targets, 6)
    background = centres.background
    assert background is not None
    z = unit @ centres.whitening
    zm = centres.means @ centres.whitening
    share = np.bincount(targets) / len(targets)
    origin = share @ zm
    between = (zm - origin).T @ ((zm - origin) * share[:, None])
    covariance = np.eye(z.shape[1]) / z.shape[1] + between
    x = z - origin
    expected = np.einsum("ij,jk,ik->i", x, np.linalg.inv(covariance), x) / z.shape[1]
    np.testing.assert_allclose(background.squared(z), expected, rtol=1e-3, atol=1e-5)
    assert abs(background.term(z).mean()) < 1e-3  # the offset keeps a typical face's distances


def test_relative_distances_keep_the_nearest_centre_and_shift_each_face_alike():
    unit, targets = _faces()
    relative = fit_centres(unit, targets, 6)
    assert relative.background is not None
    absolute = replace(relative, background=None)
    near, far = relative.distances(unit), absolute.distances(unit)
    assert np.array_equal(near.argmin(1), far.argmin(1))
    shift = far**2 - near**2
    np.testing.assert_allclose(
        shift, relative.background.term(unit @ relative.whitening)[:, None].repeat(6, 1), atol=1e-4
    )
    assert shift.std() > 0.01  # unusual faces come nearer, ordinary ones go further


def test_other_centres_are_measured_against_the_same_background():
    unit, targets = _faces()
    centres = fit_centres(unit, targets, 6)
    others = centres.with_means(centres.means[:2] + 0.01)
    assert others.background is centres.background
    shift = replace(others, background=None).distances(unit) ** 2 - others.distances(unit) ** 2
    assert shift.std() > 0.01


def test_centres_keep_their_background_through_a_file_and_older_files_load_without(tmp_path: Path):
    unit, targets = _faces()
    centres = fit_centres(unit, targets, 6)
    centres.save(tmp_path)
    loaded = load_centres(tmp_path, CENTRES_FORMAT)
    np.testing.assert_allclose(loaded.distances(unit), centres.distances(unit), rtol=1e-5, atol=1e-5)
    replace(centres, background=None).save(tmp_path)
    assert load_centres(tmp_path, CENTRES_FORMAT).background is None


def test_the_spread_is_measured_on_new_faces_when_given_and_a_new_face_s_unusual_direction_counts_less():
    rng = np.random.default_rng(1)
    dim, classes = 12, 4
    means = rng.normal(size=(classes, dim))
    seen_targets, new_targets = np.repeat(np.arange(classes), 100), np.repeat(np.arange(classes), 60)
    seen = means[seen_targets] + 0.05 * rng.normal(size=(400, dim))  # memorised: tight in every direction
    wobble = np.zeros((240, dim))
    wobble[:, 0] = rng.normal(size=240)  # new pictures vary along one direction the training faces did not
    new = means[new_targets] + 0.05 * rng.normal(size=(240, dim)) + wobble
    plain = replace(fit_centres(seen, seen_targets, classes), background=None)
    measured = replace(fit_centres(seen, seen_targets, classes, new, new_targets), background=None)
    along, across = means[:1].copy(), means[:1].copy()
    along[0, 0] += 0.5
    across[0, 1] += 0.5
    assert plain.distances(along)[0, 0] > 5 * plain.distances(np.zeros((1, dim)) + means[0])[0, 0]
    assert measured.distances(along)[0, 0] < measured.distances(across)[0, 0] / 5
    np.testing.assert_allclose(measured.means, plain.means)  # the centres themselves still come from training


def test_new_faces_of_a_character_with_no_training_face_are_left_out_of_the_spread():
    unit, targets = _faces()
    extra = np.concatenate([targets[:50], np.full(5, 9)])  # 5 and 9: no training face, no mean
    centres = fit_centres(unit[targets < 5], targets[targets < 5], 5, unit[: len(extra)], extra)
    assert np.isfinite(centres.whitening).all()


def test_the_spread_is_read_off_validation_only_when_calibration_has_faces_of_its_own():
    def part(n: int) -> Embedded:
        return Embedded(np.zeros((n, 3)), np.zeros((n, 4)), np.zeros(n, dtype=np.int64))

    parts = {"train": part(8), "val": part(MIN_SPREAD_FACES), "calibration": part(6)}
    assert spread_faces(parts) is parts["val"] and calibration_faces(parts) is parts["calibration"]
    older = {"train": part(8), "val": part(MIN_SPREAD_FACES), "calibration": part(0)}  # thresholds: on validation
    assert spread_faces(older) is None and calibration_faces(older) is older["val"]
    few = {"train": part(8), "val": part(MIN_SPREAD_FACES - 1), "calibration": part(6)}
    assert spread_faces(few) is None  # too few to measure a spread on: the training faces' serves
