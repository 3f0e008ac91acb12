"""A server's own characters (``darekana.bot.server_characters``), on a real bundle and real crops of
characters the shipped network never saw: named in their server, unknown to the other one."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darekana.bot.server_characters import SERVER_PREFIX, Galleries, ServerCharacter, is_server_answer
from darekana.recognizer.bundle import load_manifest, write_manifest
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import ImageError, load_image
from darekana.train.shared import DATASETS

SHOTS = 5


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def crops_of(name: str) -> list[Image.Image]:
    return [load_image(p) for p in sorted((DATASETS / "moeimouto-85" / name).glob("*.jpg"))]


@pytest.fixture(scope="module")
def recognizer(trained_bundle: Path) -> Recognizer:
    return Recognizer(trained_bundle)


def character(guild: str, name: str, crops: list[Image.Image]) -> ServerCharacter:
    return ServerCharacter(guild, name, name.replace("_", " ").title(), tuple(png(c) for c in crops[:SHOTS]))


def test_server_character_is_named_in_its_server_and_unknown_in_the_other_server(recognizer: Recognizer):
    horo = crops_of("horo")
    galleries = Galleries.build(recognizer, [character("A", "horo", horo)])
    others = horo[SHOTS:]
    in_a = recognizer.classify(others, galleries.of("A"))
    named = np.mean([d.label == SERVER_PREFIX + "horo" for d in in_a])
    assert named >= 0.5, f"{named:.2f} of horo's other faces named in server A"
    assert any(is_server_answer(d, galleries.of("A")) for d in in_a)
    for elsewhere in ("B", None):  # another server; a DM, X or the HTTP API
        assert galleries.of(elsewhere) is None
        assert not any(d.label.startswith(SERVER_PREFIX) for d in recognizer.classify(others, galleries.of(elsewhere)))


def test_a_server_character_the_bundle_also_holds_is_answered_once(recognizer: Recognizer, held_back: list[Path]):
    known = held_back[0].parent.name
    faces = [load_image(p) for p in held_back if p.parent.name == known]
    galleries = Galleries.build(recognizer, [character("A", known, faces)])
    extra = galleries.of("A")
    assert extra is not None and extra.labels[0].id == known  # the bundle's own id: one answer, the nearer
    for decision in recognizer.classify(faces, extra):
        ids = [c.label for c in decision.candidates]
        assert len(ids) == len(set(ids))


def test_one_server_rebuilt_leaves_the_others(recognizer: Recognizer):
    galleries = Galleries.build(
        recognizer,
        [character("A", "horo", crops_of("horo")), character("B", "yagami_hayate", crops_of("yagami_hayate"))],
    )
    assert galleries.network == recognizer.network
    without_a = galleries.with_guild("A", None)
    assert without_a.of("A") is None and without_a.of("B") is galleries.of("B")


def test_a_new_bundle_on_the_same_network_answers_server_characters_with_its_own_thresholds(
    recognizer: Recognizer, trained_bundle: Path, tmp_path: Path
):
    galleries = Galleries.build(recognizer, [character("A", "horo", crops_of("horo"))])
    copy = Path(shutil.copytree(trained_bundle, tmp_path / "bundle"))
    manifest = load_manifest(copy, verify=False)
    write_manifest(
        copy, replace(manifest, thresholds=replace(manifest.thresholds, distance=2 * manifest.thresholds.distance))
    )
    newer = Recognizer(copy)
    assert newer.network == recognizer.network
    before, after = galleries.of("A"), galleries.rethresholded(newer).of("A")
    assert before is not None and after is not None
    assert after.thresholds.distance == newer.manifest.thresholds.distance != before.thresholds.distance
    assert np.array_equal(after.means, before.means) and after.labels == before.labels


def test_a_crop_that_is_not_a_picture_is_refused(recognizer: Recognizer):
    broken = ServerCharacter("A", "horo", "Horo", (b"not a png",))
    with pytest.raises(ImageError, match="not an image"):
        Galleries.build(recognizer, [broken])
    with pytest.raises(ValueError, match="needs crops"):
        Galleries.build(recognizer, [ServerCharacter("A", "horo", "Horo", ())])
