"""The distribution as a new user gets it: ``pip wheel .``, installed without ``-e`` into a fresh virtual
environment, then run from an empty folder. Nothing of the checkout may be needed: the migrations, the
page and the shipped detector come from the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests
from processes import free_port, until_listening

from darekana.train.shared import DATASETS, SHARED

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        timeout=300,
        cwd=out,
    )
    [built] = out.glob("darekana-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed. Its dependencies are this environment's (a
    ``.pth`` line: nothing is downloaded), whose own ``.pth`` files, the editable install among them, are
    not read from there."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run(venv: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "darekana"), *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=_env(**env)
    )


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "DAREKANA_SHARED": str(SHARED), **extra}


def test_the_wheel_holds_one_namespace_and_its_data(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.startswith("darekana-")} == {"darekana"}
    for needed in (
        "darekana/bot/storage/migrations/env.py",
        "darekana/bot/storage/migrations/versions/0001_initial.py",
        "darekana/bot/http/static/index.html",
        "darekana/bot/http/static/page.js",
        "darekana/recognizer/data/faceboxes-anime-heads.onnx",
    ):
        assert needed in names


def test_the_installed_wheel_serves_from_an_empty_folder(fresh: Path, trained_bundle: Path, tmp_path: Path):
    where = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import darekana; print(darekana.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        check=True,
    ).stdout
    assert where.startswith(str(fresh)), f"darekana imported from {where}, not from the installed wheel"
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [str(fresh / "bin" / "darekana"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(DAREKANA_BUNDLE=str(trained_bundle)),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = until_listening(server, port, log)
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 200 and "<script" in page.text
        assert requests.get(base + "/static/page.js", timeout=10).status_code == 200
        picture = (DATASETS / "animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg").read_bytes()
        answer = requests.post(base + "/api/v1/whois", files={"image": ("miku.jpg", picture)}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["faces"] and answer.json()["text"].startswith("1. ")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (tmp_path / "data" / "darekana.sqlite3").is_file()  # the migrations ran in the empty folder
    newest = sorted(p.name[:4] for p in (ROOT / "darekana/bot/storage/migrations/versions").glob("0*.py"))[-1]
    assert run(fresh, "db", "current", cwd=tmp_path).stdout.strip() == f"database at revision {newest}"


def test_the_installed_wheel_trains_a_bundle(fresh: Path, tmp_path: Path):
    data = tmp_path / "faces"
    for character in sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())[:3]:
        (data / character.name).mkdir(parents=True)
        for face in sorted(character.glob("face_*.png"))[:20]:
            (data / character.name / face.name).symlink_to(face)
    done = run(fresh, "train", "fit", str(data), "--out", "bundle", cwd=tmp_path)  # on the shipped base network
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "bundle" / "manifest.json").is_file() and "bundle written to bundle" in done.stdout
    shown = run(
        fresh, "recognize", str(next((data / "000_hatsune_miku").iterdir())), "--bundle", "bundle", cwd=tmp_path
    )
    assert shown.returncode == 0 and "1. " in shown.stdout, shown.stderr
