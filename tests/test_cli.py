"""The ``darekana`` command as a person runs it: real processes, real pictures, real bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from processes import darekana

from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import load_image
from darekana.recognizer.results import Verdict
from darekana.train.shared import DATASETS


def test_recognize_prints_names(trained_bundle: Path, held_back: list[Path]):
    picture = held_back[0]
    done = darekana("recognize", str(picture), "--bundle", str(trained_bundle))
    assert done.returncode == 0, done.stderr
    assert str(picture) in done.stdout
    assert "1. " in done.stdout
    assert any(word in done.stdout for word in ("%)", "not sure", "don't know"))


def test_recognize_json_and_annotate(trained_bundle: Path, held_back: list[Path], tmp_path: Path):
    pictures = [str(p) for p in held_back[:2]]
    out = tmp_path / "annotated.png"
    done = darekana("recognize", *pictures, "--bundle", str(trained_bundle), "--json", "--annotate", str(out))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["picture"] for r in rows] == pictures
    face = rows[0]["faces"][0]
    assert {"box", "label", "name", "confidence", "verdict", "candidates", "model"} <= face.keys()
    for i in (1, 2):  # one annotated file per picture when several are given
        assert Image.open(tmp_path / f"annotated-{i}.png").size == Image.open(pictures[i - 1]).size


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"just some text\n", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "corrupt"),
    ],
)
def test_bad_picture_is_one_line_and_nonzero(trained_bundle: Path, tmp_path: Path, content: bytes, message: str):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    done = darekana("recognize", str(bad), "--bundle", str(trained_bundle))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


def test_missing_bundle_is_one_line_and_nonzero(tmp_path: Path, held_back: list[Path]):
    done = darekana("recognize", str(held_back[0]), "--bundle", str(tmp_path / "nowhere"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no model bundle" in done.stderr


def test_evaluate_json_with_unknown_characters(trained_bundle: Path, held_back: list[Path], tmp_path: Path):
    data = tmp_path / "mixed"
    for path in held_back[:30]:
        (data / path.parent.name).mkdir(parents=True, exist_ok=True)
        (data / path.parent.name / path.name).symlink_to(path)
    strangers = sorted((DATASETS / "hololive-20" / "gawr_gura").glob("*.jpg"))[:15]
    (data / "gawr_gura").mkdir()
    for path in strangers:
        (data / "gawr_gura" / path.name).symlink_to(path)
    done = darekana("train", "evaluate", str(trained_bundle), str(data), "--json", "--report", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["n"] == 30 and figures["unknown_n"] == 15
    assert figures["top1"] >= 0.7 and figures["top5"] >= figures["top1"]
    # the rates are the engine's own verdicts on those faces, counted
    assert figures["unknown_rejection_rate"] == pytest.approx(_unknown_share(trained_bundle, strangers))
    assert figures["known_false_rejection_rate"] == pytest.approx(_unknown_share(trained_bundle, held_back[:30]))
    assert sum(figures["verdicts"].values()) == 30
    assert set(figures["per_class"]) <= {p.parent.name for p in held_back}
    assert (tmp_path / "rep" / "confusion.png").is_file() and (tmp_path / "rep" / "report.md").is_file()


def test_fit_refuses_a_folder_without_characters(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    done = darekana("train", "fit", str(tmp_path / "empty"), "--out", str(tmp_path / "b"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no pictures found" in done.stderr


def test_evaluate_on_characters_the_bundle_does_not_know(trained_bundle: Path, tmp_path: Path):
    data = tmp_path / "strangers"
    (data / "gawr_gura").mkdir(parents=True)
    for path in sorted((DATASETS / "hololive-20" / "gawr_gura").glob("*.jpg"))[:10]:
        (data / "gawr_gura" / path.name).symlink_to(path)
    done = darekana("train", "evaluate", str(trained_bundle), str(data), "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["n"] == 0 and figures["unknown_n"] == 10
    strangers = sorted((data / "gawr_gura").iterdir())
    assert figures["unknown_rejection_rate"] == pytest.approx(_unknown_share(trained_bundle, strangers))


def _unknown_share(bundle: Path, faces: list[Path]) -> float:
    decisions = Recognizer(bundle).classify([load_image(path) for path in faces])
    return sum(d.verdict is Verdict.UNKNOWN for d in decisions) / len(decisions)


def test_evaluate_whole_pictures_detects_faces_first(trained_bundle: Path, held_back: list[Path], tmp_path: Path):
    data = tmp_path / "pictures"
    faces = [p for p in held_back if p.name.startswith("face_")][:12]
    for path in faces:
        (data / path.parent.name).mkdir(parents=True, exist_ok=True)
        (data / path.parent.name / path.name).symlink_to(path)
    done = darekana("train", "evaluate", str(trained_bundle), str(data), "--pictures", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["n"] == len(faces) and figures["top1"] >= 0.6


def test_fit_with_the_animeface_detector(tmp_path: Path):
    """``--detector animeface`` (nagadomi's detector, which cut animeface-10's crops) still makes a working bundle:
    no detector file, framing measured with animeface (its inner-face boxes sit low in nagadomi's crops)."""
    out = tmp_path / "animeface-bundle"
    done = darekana(
        "train", "fit", str(DATASETS / "animeface-10"), "--out", str(out), "--epochs", "1", "--detector", "animeface"
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["detector"]["kind"] == "animeface" and manifest["detector"]["file"] is None
    assert not (out / "detector.onnx").exists()
    assert 2.2 <= manifest["framing"]["scale"] <= 3.0 and manifest["framing"]["top"] > manifest["framing"]["scale"] / 2
    picture = DATASETS / "animeface-10" / "000_hatsune_miku" / "SFpLpPSK_400x400.jpg"
    shown = darekana("recognize", str(picture), "--bundle", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    face = json.loads(shown.stdout)["faces"][0]
    assert not face["whole_picture"] and face["detector_score"] >= 0.5


def test_recognize_multi_scale_finds_the_heads_of_a_real_picture(trained_bundle: Path):
    picture = DATASETS / "paperface-heads" / "pictures" / "236.jpg"  # three heads
    for flags in ((), ("--multi-scale",)):
        done = darekana("recognize", str(picture), "--bundle", str(trained_bundle), "--json", *flags)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["faces_detected"] == 3, flags


# What the serving commands run, in one process: none of it may load torch (its start-up and memory).
NO_TORCH = """
import asyncio, sys
import aiohttp
from darekana.cli import main
from darekana.bot.serve import serve
from darekana.bot.settings import Settings
import darekana.bot.discord, darekana.bot.twitter.poller  # the platforms serve starts when configured

bundle, picture, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
assert main(["db", "upgrade"]) == 0
assert main(["db", "current"]) == 0
assert main(["recognize", picture, "--bundle", bundle]) == 0
assert main(["bundle", "promote", bundle, "--current", "models/current"]) == 0
assert main(["twitter", "status"]) == 0
assert main(["tag", picture, "--out", "tags.jsonl", "--bundle", bundle, "--workers", "1"]) == 0

async def whois():
    ready = asyncio.Event()
    served = asyncio.create_task(serve(Settings.from_env(), ready))
    await ready.wait()
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("image", open(picture, "rb").read(), filename="x.png")
        async with http.post(f"http://127.0.0.1:{port}/api/v1/whois", data=form) as response:
            assert response.status == 200 and (await response.json())["faces"], await response.text()
    served.cancel()
    await asyncio.gather(served, return_exceptions=True)

asyncio.run(whois())
print("torch" in sys.modules)
"""


def test_serving_commands_never_import_torch(
    trained_bundle: Path, held_back: list[Path], tmp_path: Path, unused_tcp_port: int
):
    env = {"PATH": "/usr/bin:/bin", "DAREKANA_BUNDLE": "models/current", "DAREKANA_HTTP_PORT": str(unused_tcp_port)}
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(trained_bundle), str(held_back[0]), str(unused_tcp_port)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False", "a serving command imported torch"
    # the check can fail: a training command does load it
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from darekana.cli import main; "
            "main(['train', 'fit', '/nowhere', '--out', '/nowhere/out']); print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "True", done.stderr


def test_train_base_names_a_character_not_in_the_data_in_one_line(tmp_path: Path):
    done = darekana(
        "train",
        "base",
        str(DATASETS / "animeface-10"),
        "--out",
        str(tmp_path / "b.onnx"),
        "--hold-out",
        "nobody_at_all",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "characters to hold out not in the data: nobody_at_all" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing claimed: the corrected command starts afresh


@pytest.mark.parametrize("share", ["1", "-0.1", "lots"])
def test_train_base_refuses_a_label_smoothing_outside_0_to_1_before_reading_faces(tmp_path: Path, share: str):
    done = darekana("train", "base", "/nowhere", "--out", str(tmp_path / "b.onnx"), "--label-smoothing", share)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--label-smoothing" in done.stderr and list(tmp_path.iterdir()) == []


def test_train_fit_refuses_a_base_network_without_its_record(tmp_path: Path):
    (tmp_path / "lonely.onnx").write_bytes(b"not really a network")
    done = darekana(
        "train",
        "fit",
        str(DATASETS / "animeface-10"),
        "--out",
        str(tmp_path / "b"),
        "--network",
        str(tmp_path / "lonely.onnx"),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "record" in done.stderr and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--triplet", "-1"),
        ("--triplet", "nan"),
        ("--faces-per-character", "1"),
        ("--erase", "1.5"),
        ("--look-alikes", "1"),
        ("--look-alikes", "two"),
        ("--balance", "1.5"),
        ("--ema", "1"),
        ("--ema", "-0.5"),
    ],
)
def test_train_base_refuses_a_triplet_setting_it_cannot_train_with_before_reading_faces(
    tmp_path: Path, option: str, value: str
):
    done = darekana("train", "base", "/nowhere", "--out", str(tmp_path / "b.onnx"), option, value)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert option in done.stderr and list(tmp_path.iterdir()) == []
