"""Tests for darekana.train.data: label names, source groups, scanning real face folders and leak-free splits."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darekana.recognizer.bundle import Label
from darekana.recognizer.names import display_name
from darekana.train.data import HASH_SIDE, difference_hash, load_pixels, near_duplicate_pairs, scan, source_group, split
from darekana.train.shared import DATASETS

ANIMEFACE, HOLOLIVE = DATASETS / "animeface-10", DATASETS / "hololive-20"
MIKU, SAKURA = "000_hatsune_miku", "001_kinomoto_sakura"


def real_faces(character: str, n: int) -> list[Path]:
    return sorted((ANIMEFACE / character).glob("face_*.png"))[:n]


# --- names and groups -----------------------------------------------------------------------------------


def test_display_name():
    assert display_name("000_hatsune_miku") == "Hatsune Miku"
    assert display_name("irys_(hololive)") == "Irys (Hololive)"
    assert display_name("gawr_gura") == "Gawr Gura"
    assert display_name("010_izumi_konata") == "Izumi Konata"


def test_source_group_hololive_pattern():
    md5 = "01090f023cec443feba5d1f468f57a0b"
    assert source_group(Path(f"hololive-20/gawr_gura/{md5}-3.jpg")) == md5
    assert source_group(Path(f"hololive-20/gawr_gura/{md5}-1.jpg")) == md5
    assert source_group(Path(f"elsewhere/ceres_fauna/{md5}-12.png")) == md5


def test_source_group_moeimouto_pattern():
    assert source_group(Path("moeimouto-85/horo/face_1014_469_89.jpg")) == "face_1014_469"
    assert source_group(Path("moeimouto-85/horo/face_1014_469_90.jpg")) == "face_1014_469"
    assert source_group(Path("moeimouto-85/horo/face_1014_470_89.jpg")) == "face_1014_470"


def test_source_group_other_names_are_unique_per_file():
    paths = [
        Path("animeface-10/000_hatsune_miku/face_1.png"),
        Path("animeface-10/000_hatsune_miku/face_2.png"),
        Path("animeface-10/001_kinomoto_sakura/face_1.png"),
        Path("x/a/01090f023cec443feba5d1f468f57a0b.jpg"),
        Path("x/a/01090F023CEC443FEBA5D1F468F57A0B-1.jpg"),
        Path("x/a/1090f023cec443feba5d1f468f57a0b-1.jpg"),
    ]
    groups = [source_group(p) for p in paths]
    assert len(set(groups)) == len(groups)
    assert "01090f023cec443feba5d1f468f57a0b" not in groups


# --- scanning a real folder ------------------------------------------------------------------------------


@pytest.fixture
def messy(tmp_path) -> Path:
    """Two characters of real crops, with a duplicate, a cross-character copy, a text file and a broken image."""
    root = tmp_path / "faces"
    miku, sakura = root / MIKU, root / SAKURA
    miku.mkdir(parents=True)
    sakura.mkdir()
    for i, path in enumerate(real_faces(MIKU, 3)):
        shutil.copy(path, miku / f"m{i}.png")
    for i, path in enumerate(real_faces(SAKURA, 3)):
        shutil.copy(path, sakura / f"s{i}.png")
    shutil.copy(miku / "m0.png", miku / "m0_again.png")  # same character twice: kept once
    other = real_faces("002_suzumiya_haruhi", 1)[0]
    shutil.copy(other, miku / "both.png")  # under two characters: dropped from both
    shutil.copy(other, sakura / "both.png")
    (miku / "notes.txt").write_text("not a picture")
    data = real_faces(SAKURA, 4)[3].read_bytes()
    (sakura / "broken.png").write_bytes(data[: len(data) // 2])  # truncated: readable header, no pixels
    return root


def test_scan_cleans_a_messy_folder(messy):
    dataset = scan([messy])
    assert dataset.labels == [Label(MIKU, "Hatsune Miku"), Label(SAKURA, "Kinomoto Sakura")]
    names = {(s.label, s.path.name) for s in dataset.samples}
    assert names == {
        (MIKU, "m0.png"),
        (MIKU, "m1.png"),
        (MIKU, "m2.png"),
        (SAKURA, "s0.png"),
        (SAKURA, "s1.png"),
        (SAKURA, "s2.png"),
        (SAKURA, "broken.png"),
    }
    assert dataset.duplicates >= 1  # m0_again.png
    skipped = {Path(p).relative_to(messy).as_posix(): reason for p, reason in dataset.skipped}
    assert set(skipped) == {f"{MIKU}/both.png", f"{SAKURA}/both.png"}
    assert all("2 characters" in reason for reason in skipped.values())
    assert list(dataset.targets) == [0, 0, 0, 1, 1, 1, 1]
    assert len({s.group for s in dataset.samples}) == len(dataset.samples)

    pixels = load_pixels(dataset, 32)
    assert pixels.shape == (6, 32, 32, 3) and pixels.dtype == np.uint8
    assert "broken.png" not in {s.path.name for s in dataset.samples}
    broken = [reason for p, reason in dataset.skipped if Path(p).name == "broken.png"]
    assert len(broken) == 1 and broken[0]
    assert len(dataset.skipped) == 3
    assert list(dataset.targets) == [0, 0, 0, 1, 1, 1]

    summary = dataset.summary()
    assert "6 faces of 2 characters" in summary
    assert "3–3 each" in summary
    assert re.search(r"\b3\b[^;]*skipped", summary), summary  # 2 ambiguous + 1 unreadable
    assert f"{dataset.duplicates} duplicates" in summary


def test_scan_counts_a_duplicate_inside_one_character(tmp_path):
    character = tmp_path / "faces" / MIKU
    character.mkdir(parents=True)
    for i, path in enumerate(real_faces(MIKU, 2)):
        shutil.copy(path, character / f"m{i}.png")
    shutil.copy(character / "m1.png", character / "m1_copy.png")
    dataset = scan([tmp_path / "faces"])
    assert dataset.duplicates == 1
    assert [s.path.name for s in dataset.samples] == ["m0.png", "m1.png"]
    assert dataset.skipped == []
    assert "1 duplicates dropped" in dataset.summary()


def test_scan_merges_folders_by_label_id(tmp_path):
    for part, faces in (("one", real_faces(MIKU, 2)), ("two", real_faces(MIKU, 4)[2:])):
        (tmp_path / part / MIKU).mkdir(parents=True)
        for path in faces:
            shutil.copy(path, tmp_path / part / MIKU / path.name)
    dataset = scan([tmp_path / "one", tmp_path / "two"])
    assert dataset.labels == [Label(MIKU, "Hatsune Miku")]
    assert len(dataset.samples) == 4


def test_scan_empty_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="no pictures"):
        scan([tmp_path])
    (tmp_path / "someone").mkdir()
    (tmp_path / "someone" / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="one sub-folder per character"):
        scan([tmp_path])


def test_scan_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        scan([tmp_path / "nowhere"])


# --- splitting the real hololive-20 folder ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hololive():
    dataset = scan([HOLOLIVE])
    return dataset, split(dataset, val=0.1, test=0.15, seed=0, calibration=0.15)


def test_split_is_a_leak_free_partition(hololive):
    dataset, parts = hololive
    n = len(dataset.samples)
    assert n == 9350 and len(dataset.labels) == 20
    named = {name: set(map(int, getattr(parts, name))) for name in ("train", "val", "calibration", "test")}
    for a in named:
        for b in named:
            assert a == b or not named[a] & named[b], (a, b)
    assert set().union(*named.values()) == set(range(n))
    groups = [s.group for s in dataset.samples]
    assert len(set(groups)) < n  # hololive-20 really has several faces per source picture
    owner: dict[str, str] = {}
    for name, index in named.items():
        for i in index:
            assert owner.setdefault(groups[i], name) == name, f"source {groups[i]} is in {owner[groups[i]]} and {name}"
    y = dataset.targets
    for name in named:
        assert set(y[getattr(parts, name)]) == set(range(20)), name
    for name, share in (("val", 0.1), ("calibration", 0.15), ("test", 0.15)):
        assert abs(len(named[name]) / n - share) <= 0.05, name


def test_without_a_calibration_share_there_is_no_calibration_split():
    dataset = scan([HOLOLIVE])
    assert len(split(dataset, seed=0).calibration) == 0


def test_split_depends_on_seed_only(hololive):
    dataset, parts = hololive
    again = split(dataset, val=0.1, test=0.15, seed=0, calibration=0.15)
    for a, b in zip(
        (parts.train, parts.val, parts.calibration, parts.test), (again.train, again.val, again.calibration, again.test)
    ):
        assert np.array_equal(a, b)
    other = split(dataset, val=0.1, test=0.15, seed=1, calibration=0.15)
    assert not np.array_equal(parts.test, other.test)


# --- near-duplicates ---------------------------------------------------------------------------------------


def test_a_resized_re_encoded_copy_joins_its_original_s_group_under_another_file_name(tmp_path: Path):
    crops = sorted((DATASETS / "animeface-10" / "000_hatsune_miku").glob("face_*.png"))[:4]
    miku = tmp_path / "faces" / "miku"
    miku.mkdir(parents=True)
    for path in crops:
        shutil.copyfile(path, miku / path.name)
    copy = Image.open(crops[0]).convert("RGB")
    copy.resize((copy.width * 3 // 4, copy.height * 3 // 4)).save(miku / "reposted.jpg", quality=70)
    other = tmp_path / "faces" / "someone_else"
    other.mkdir()
    Image.open(crops[1]).convert("RGB").save(other / "look_alike.jpg", quality=70)  # near, but another character
    dataset = scan([tmp_path / "faces"])
    load_pixels(dataset, 64)
    group = {s.path.name: s.group for s in dataset.samples}
    assert group["reposted.jpg"] == group[crops[0].name]
    assert len({group[p.name] for p in crops}) == len(crops)  # different pictures stay apart
    assert group["look_alike.jpg"] not in {group[p.name] for p in crops}


def test_no_split_separates_near_duplicate_faces_of_one_character_whatever_size_a_network_reads():
    dataset, larger = scan([HOLOLIVE]), scan([HOLOLIVE])
    load_pixels(dataset, 32)
    pixels = load_pixels(larger, HASH_SIDE)  # hashed from the pixels it returns; the 32 px faces are hashed apart
    assert [s.group for s in dataset.samples] == [s.group for s in larger.samples]
    parts = split(dataset, val=0.1, test=0.15, seed=0, calibration=0.15)
    again = split(larger, val=0.1, test=0.15, seed=0, calibration=0.15)
    names = ("train", "val", "calibration", "test")
    assert all(np.array_equal(getattr(parts, name), getattr(again, name)) for name in names)
    part = np.empty(len(dataset.samples), dtype=object)
    for name in names:
        part[getattr(parts, name)] = name
    pairs = near_duplicate_pairs(np.array([difference_hash(face) for face in pixels], dtype=np.uint64))
    y = dataset.targets
    same = pairs[y[pairs[:, 0]] == y[pairs[:, 1]]]
    files = [s.path.stem.split("-")[0] for s in dataset.samples]
    across_sources = [(i, j) for i, j in same if files[i] != files[j]]
    assert len(across_sources) > 20  # hololive-20 really has near-duplicates under different source names
    assert all(part[i] == part[j] for i, j in same)
