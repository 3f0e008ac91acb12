"""``darekana tag`` as people run it on a collection: real pictures, real processes, Ray running for real."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from processes import darekana

from darekana.tag.config import TagConfig
from darekana.tag.formats import read_rows, write_rows
from darekana.tag.journal import SUFFIX, Journal
from darekana.tag.records import Tagged, group_rows
from darekana.tag.run import tag
from darekana.tag.work import Status
from darekana.train.shared import DATASETS

PICTURES = DATASETS / "paperface-heads" / "pictures"


def collection(folder: Path, count: int) -> Path:
    """``count`` real illustrations in ``folder``, some a level down, one face crop and one picture of no face."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, picture in enumerate(sorted(PICTURES.glob("*.jpg"))[:count]):
        target = folder / ("more" if index % 3 == 0 else "") / picture.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(picture, target)
    shutil.copy(next((DATASETS / "animeface-10" / "000_hatsune_miku").glob("*.png")), folder / "crop.png")
    Image.linear_gradient("L").resize((320, 200)).save(folder / "sky.png")
    return folder


def tag_command(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return darekana("tag", *args, "--bundle", str(bundle))


def test_broken_and_non_picture_files_are_reported_and_skipped(trained_bundle: Path, tmp_path: Path):
    folder = collection(tmp_path / "pictures", 4)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.md").write_text("# not a picture")
    (folder / "empty.png").write_bytes(b"")
    (folder / ".hidden.jpg").write_bytes(b"left alone")
    listed = tmp_path / "more.txt"
    listed.write_text(f"# one more, and one that is gone\n{PICTURES / '236.jpg'}\nmissing.jpg\n")
    out = tmp_path / "tags.jsonl"

    done = tag_command(trained_bundle, str(folder), str(listed), "--out", str(out), "--workers", "2", "--json")

    assert done.returncode == 0, done.stderr
    for name, why in [("broken.jpg", "corrupt"), ("notes.md", "not a picture"), ("empty.png", "empty"),
                      ("missing.jpg", "no such file")]:  # fmt: skip
        assert any(name in line and why in line for line in done.stderr.splitlines()), (name, done.stderr)
    assert ".hidden" not in done.stderr
    pictures = group_rows(read_rows(out))
    good = [p.name for p in folder.rglob("*.jpg") if p.name not in ("broken.jpg", ".hidden.jpg")]
    assert sorted(Path(p.picture).name for p in pictures) == sorted([*good, "crop.png", "sky.png", "236.jpg"])
    assert sum(len(p.faces) for p in pictures if p.picture.endswith("236.jpg")) == 3
    summary = json.loads(done.stdout)
    assert summary["tagged"] == len(pictures) and summary["failed"] == 4
    assert summary["faces"] == sum(len(p.faces) for p in pictures)


def test_the_three_formats_read_back_what_was_written(trained_bundle: Path, tmp_path: Path):
    folder = collection(tmp_path / "pictures", 6)
    out = tmp_path / "tags.parquet"
    done = tag_command(trained_bundle, str(folder), "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    assert any(row["faces"] == 0 and row["face"] is None for row in rows), "the sky: one row, no face"
    assert any(row["faces"] > 1 for row in rows)
    face = next(row for row in rows if row["face"] is not None)
    assert len(face["box"]) == 4 and face["candidates"][0]["label"] == face["label"]
    assert {"picture", "box", "label", "name", "confidence", "verdict", "candidates", "bundle", "tags"} <= face.keys()
    for suffix in (".jsonl", ".csv"):
        copy = tmp_path / f"copy{suffix}"
        write_rows(copy, rows)
        assert read_rows(copy) == rows, suffix
    with pytest.raises(ValueError, match="extension"):
        write_rows(tmp_path / "tags.xlsx", rows)


def test_a_finished_run_is_not_repeated_and_a_changed_picture_is_tagged_again(trained_bundle: Path, tmp_path: Path):
    folder = collection(tmp_path / "pictures", 5)
    out = tmp_path / "tags.csv"
    assert tag_command(trained_bundle, str(folder), "--out", str(out), "--workers", "1").returncode == 0
    first = out.read_bytes()
    again = tag_command(trained_bundle, str(folder), "--out", str(out), "--json")
    assert json.loads(again.stdout)["kept"] == 7 and out.read_bytes() == first
    changed = sorted(folder.glob("*.jpg"))[0]
    shutil.copy(PICTURES / "236.jpg", changed)
    summary = json.loads(tag_command(trained_bundle, str(folder), "--out", str(out), "--json").stdout)
    assert (summary["tagged"], summary["kept"]) == (1, 6)
    picture = next(p for p in group_rows(read_rows(out)) if p.picture == str(changed))
    assert len(picture.faces) == 3  # 236.jpg's heads, under the changed file's name


def interrupted(bundle: Path, folder: Path, out: Path, how: signal.Signals) -> None:
    """A run stopped by ``how`` once it has finished two pictures (one a chunk: many chunks are left)."""
    journal = out.with_name(out.name + SUFFIX)
    process = subprocess.Popen(
        [sys.executable, "-m", "darekana.cli", "tag", str(folder), "--out", str(out), "--bundle", str(bundle)]
        + ["--workers", "1", "--chunk", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (journal.exists() and journal.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr and process.stderr.read()
        time.sleep(0.05)
    process.send_signal(how)
    assert process.wait(timeout=60) == (130 if how == signal.SIGINT else -how)


def test_killed_half_way_then_resumed_gives_the_clean_runs_file(trained_bundle: Path, tmp_path: Path):
    folder = collection(tmp_path / "pictures", 60)
    clean = tmp_path / "clean.jsonl"
    assert tag_command(trained_bundle, str(folder), "--out", str(clean), "--workers", "1").returncode == 0

    killed = tmp_path / "killed.jsonl"
    interrupted(trained_bundle, folder, killed, signal.SIGKILL)
    assert not killed.exists(), "a killed run never wrote a partial tag file"
    with killed.with_name(killed.name + SUFFIX).open("a") as journal:
        journal.write('{"picture": "torn mid-li')  # as if killed while writing a line
    stopped = tmp_path / "stopped.jsonl"
    interrupted(trained_bundle, folder, stopped, signal.SIGINT)
    partial = group_rows(read_rows(stopped))
    assert 2 <= len(partial) < 62, "Ctrl-C saves what was done"

    for out in (killed, stopped):
        done = tag_command(trained_bundle, str(folder), "--out", str(out), "--workers", "2", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["kept"] >= 2
        assert out.read_bytes() == clean.read_bytes()
        pictures = [row["picture"] for row in read_rows(out) if row["face"] in (0, None)]
        assert len(pictures) == len(set(pictures)) == 62
        assert not out.with_name(out.name + SUFFIX).exists()


def test_bad_settings_and_bundles_are_refused_before_any_work(tmp_path: Path):
    with pytest.raises(ValueError, match="chunk"):
        TagConfig(chunk=0)
    done = darekana("tag", str(PICTURES / "236.jpg"), "--out", str(tmp_path / "t.jsonl"), "--bundle", str(tmp_path))
    assert done.returncode == 2 and "manifest" in done.stderr, done.stderr


def test_two_runs_cannot_write_one_tag_file(tmp_path: Path):
    journal = Journal(tmp_path / "tags.jsonl")
    with pytest.raises(ValueError, match="another darekana tag run"):
        Journal(tmp_path / "tags.jsonl")
    journal.close()
    Journal(tmp_path / "tags.jsonl").close()
    assert list(tmp_path.iterdir()) == [], "an empty journal is not left behind"


def test_a_file_that_is_no_tag_file_is_refused_not_overwritten(trained_bundle: Path, tmp_path: Path):
    out = tmp_path / "tags.csv"
    out.write_text("my,own,spreadsheet\n1,2,3\n")
    done = tag_command(trained_bundle, str(PICTURES / "236.jpg"), "--out", str(out))
    assert done.returncode == 2 and "not a tag file" in done.stderr
    assert out.read_text() == "my,own,spreadsheet\n1,2,3\n"


def test_ray_gives_the_answers_of_local_workers(trained_bundle: Path, tmp_path: Path):
    pytest.importorskip("ray", reason="Ray is darekana's optional extra: pip install 'darekana[ray]'")
    folder = collection(tmp_path / "pictures", 12)
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert tag_command(trained_bundle, str(folder), "--out", str(local), "--workers", "2").returncode == 0
    done = tag_command(trained_bundle, str(folder), "--out", str(on_ray), "--ray", "local", "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tagged"] == 14
    assert on_ray.read_bytes() == local.read_bytes()


def test_the_python_api_is_a_generator_of_outcomes(trained_bundle: Path, tmp_path: Path):
    folder = collection(tmp_path / "pictures", 3)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    outcomes = {Path(o.picture).name: o for o in tag([folder], trained_bundle, TagConfig(workers=1))}
    assert outcomes["broken.png"].status is Status.FAILED and outcomes["broken.png"].reason
    tagged = [o.tagged for o in outcomes.values() if o.tagged is not None]
    assert len(tagged) == 5 and all(isinstance(t, Tagged) for t in tagged)
    assert all(t.bundle.startswith(trained_bundle.name + "@") for t in tagged)
