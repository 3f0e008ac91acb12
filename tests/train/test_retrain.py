"""Retraining inputs: folders and correction exports merged by character, and a test split kept fixed
across successive bundles."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from darekana.bot.callers import Requester
from darekana.cli import main as darekana
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import load_image
from darekana.recognizer.names import character_key
from darekana.train.data import held_back_digests, scan, split, unpacked
from darekana.train.shared import DATASETS

MIKU = DATASETS / "animeface-10" / "000_hatsune_miku"


def copy_faces(source: Path, target: Path, files: list[Path]) -> None:
    target.mkdir(parents=True)
    for path in files:
        shutil.copy(path, target / path.name)


@pytest.mark.parametrize(
    "name, key",
    [
        ("000_hatsune_miku", "hatsune_miku"),
        ("Hatsune-Miku", "hatsune_miku"),
        ("irys_(hololive)", "irys_hololive"),
        ("gawr_gura", "gawr_gura"),
    ],
)
def test_character_keys(name: str, key: str):
    assert character_key(name) == key


def test_nagadomi_ids_tags_and_aliases_merge_into_one_character(tmp_path: Path):
    faces = sorted(MIKU.glob("*.png"))[:9]
    copy_faces(MIKU, tmp_path / "a" / "000_hatsune_miku", faces[:3])
    copy_faces(MIKU, tmp_path / "b" / "Hatsune-Miku", faces[3:6])
    copy_faces(MIKU, tmp_path / "c" / "miku", faces[6:] + faces[:1])  # one byte-identical to a's
    dataset = scan([tmp_path / "a", tmp_path / "b", tmp_path / "c"], aliases={"Miku": "hatsune miku"})
    assert [label.id for label in dataset.labels] == ["000_hatsune_miku"]
    assert len(dataset.samples) == 9 and dataset.duplicates == 1
    without = scan([tmp_path / "a", tmp_path / "c"])
    assert {label.id for label in without.labels} == {"000_hatsune_miku", "miku"}


def test_unsafe_or_broken_archives_are_refused(tmp_path: Path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside/x.png", b"png")
    with pytest.raises(ValueError, match="unsafe"), unpacked([evil]):
        pass
    assert not (tmp_path.parent / "outside").exists()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="not a readable zip"), unpacked([broken]):
        pass


def test_a_bundles_test_faces_stay_the_test_set(trained_bundle: Path, tmp_path: Path):
    fixed = held_back_digests(trained_bundle)
    assert fixed and fixed == frozenset(json.loads((trained_bundle / "split.json").read_text())["test_sha256"])
    newcomer = sorted((DATASETS / "hololive-20" / "gawr_gura").glob("*.jpg"))[:40]
    copy_faces(newcomer[0].parent, tmp_path / "more" / "gawr_gura", newcomer)
    dataset = scan([DATASETS / "animeface-10", tmp_path / "more"])
    parts = split(dataset, seed=7, fixed_test=fixed)  # another seed: only the fixed faces keep test stable
    digest = np.array([s.digest for s in dataset.samples])
    assert fixed <= set(digest[parts.test])
    assert not fixed & set(digest[np.concatenate([parts.train, parts.val])])
    gura = {i for i, s in enumerate(dataset.samples) if s.label == "gawr_gura"}
    assert gura & set(parts.test) and gura & set(parts.train), "a new character is split as usual"
    known_test = [i for i in parts.test if dataset.samples[i].label != "gawr_gura"]
    assert set(digest[known_test]) == fixed, "known characters' test set is exactly the earlier one"


def test_old_split_files_without_digests_are_hashed(trained_bundle: Path, tmp_path: Path):
    old = tmp_path / "old"
    old.mkdir()
    split_file = json.loads((trained_bundle / "split.json").read_text())
    del split_file["test_sha256"]
    (old / "split.json").write_text(json.dumps(split_file))
    assert held_back_digests(old) == held_back_digests(trained_bundle)
    (old / "split.json").write_text(json.dumps({"test": ["/nowhere/x.png"]}))
    with pytest.raises(ValueError, match="no test faces"):
        held_back_digests(old)


GURA = sorted((DATASETS / "hololive-20" / "gawr_gura").glob("*.jpg"))


async def corrections_of_gura(service, faces: list[Path]) -> bytes:
    """The moderators' export after people named ``faces`` Gawr Gura, a character the bundle does not know."""
    for n, path in enumerate(faces):
        face_id = (await service.whois(path.read_bytes(), Requester("http", f"u{n}"))).face_ids[0]
        ack = await service.correct(face_id, "Gawr Gura", Requester("http", f"u{n}"))
        await service.review(ack.id, "accepted", Requester("http", "moderator"))
    export, count = await service.export()
    assert count == len(faces)
    return export


async def test_a_correction_export_round_trips_into_training(make_service, tmp_path: Path):
    export = await corrections_of_gura(make_service(user_rate="1000/1"), GURA[:12])
    (tmp_path / "corrections.zip").write_bytes(export)

    base = tmp_path / "base"
    for character in ("000_hatsune_miku", "001_kinomoto_sakura"):
        files = sorted((DATASETS / "animeface-10" / character).glob("*.png"))[:20]
        copy_faces(files[0].parent, base / character, files)
    out = tmp_path / "next"
    assert (
        darekana(
            [
                "train",
                "fit",
                str(base),
                str(tmp_path / "corrections.zip"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert [label["id"] for label in manifest["labels"]] == ["000_hatsune_miku", "001_kinomoto_sakura", "gawr_gura"]
    exported = zipfile.ZipFile(io.BytesIO(export)).namelist()
    assert sum(name.startswith("gawr_gura/") for name in exported) == 12
    split_file = json.loads((out / "split.json").read_text())
    assert sum(len(split_file[part]) for part in ("train", "val", "calibration", "test")) == 52


async def test_a_correction_export_enrolls_the_character_it_names(make_service, trained_bundle: Path, tmp_path: Path):
    export = await corrections_of_gura(make_service(user_rate="1000/1"), GURA[:5])
    (tmp_path / "corrections.zip").write_bytes(export)
    out = tmp_path / "enrolled"
    assert darekana(["train", "enroll", str(trained_bundle), str(tmp_path / "corrections.zip"), "--out", str(out)]) == 0
    recognizer = Recognizer(out)
    assert recognizer.manifest.labels[-1].id == "gawr_gura"
    decisions = recognizer.classify([load_image(p) for p in GURA[5:25]])
    right = sum(d.label == "gawr_gura" for d in decisions)
    assert right >= 12, f"{right} of 20 other crops of Gawr Gura named her after enrolling five"
