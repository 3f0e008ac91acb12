"""Closing the loop without downtime: the promotion gate (``darekana train compare``), atomic promotion
(``darekana bundle promote``), and a serving service that reloads under load and records which bundle
answered. Real bundles (copies of the session's trained one), real pictures, real SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from darekana.bot.bundles import point, promote
from darekana.bot.callers import Requester
from darekana.bot.serve import watch_bundle
from darekana.bot.service import Service
from darekana.bot.settings import Settings
from darekana.bot.storage.models import RecognitionRow
from darekana.cli import main as darekana
from darekana.recognizer.bundle import BundleError, load_manifest, write_manifest
from darekana.recognizer.layout import MODEL_FILE
from darekana.recognizer.results import Candidate, Decision, Model, Verdict
from darekana.train.compare import judge, paired
from darekana.train.evaluate import Scored, score
from darekana.train.shared import DATASETS

DATA = str(DATASETS / "animeface-10")


@dataclass(frozen=True)
class Bundles:
    v1: Path  # a copy of the trained bundle
    v2: Path  # the same network, a later created_at and one display name changed
    worse: Path  # the same files with two characters' labels swapped: an honest, cheaply made worse bundle


def copy_bundle(source: Path, target: Path, created_at: str, edit: Callable | None = None) -> Path:
    shutil.copytree(source, target)
    manifest = load_manifest(target)
    manifest.created_at = created_at
    if edit:
        edit(manifest)
    write_manifest(target, manifest)
    return target


def swap_first_two(manifest) -> None:
    manifest.labels[0], manifest.labels[1] = manifest.labels[1], manifest.labels[0]


def rename_first(manifest) -> None:
    manifest.labels[0] = type(manifest.labels[0])(manifest.labels[0].id, "Renamed In V2")


@pytest.fixture(scope="module")
def bundles(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    root = tmp_path_factory.mktemp("versions")
    return Bundles(
        copy_bundle(trained_bundle, root / "v1", "2026-01-01T00:00:00+00:00"),
        copy_bundle(trained_bundle, root / "v2", "2026-02-01T00:00:00+00:00", rename_first),
        copy_bundle(trained_bundle, root / "worse", "2026-03-01T00:00:00+00:00", swap_first_two),
    )


@pytest.fixture(params=["checksum", "graph"])
def broken(request: pytest.FixtureRequest, bundles: Bundles, tmp_path: Path) -> Path:
    """A truncated model.onnx: caught by its checksum, or (checksums rewritten) only by loading the graph."""
    target = tmp_path / f"broken-{request.param}"
    shutil.copytree(bundles.v1, target)
    with (target / MODEL_FILE).open("r+b") as fh:
        fh.truncate(4096)
    if request.param == "graph":
        write_manifest(target, load_manifest(target, verify=False))
    return target


def version_of(bundle: Path) -> str:
    return f"{bundle.name}@{load_manifest(bundle, verify=False).created_at}"


def stored_versions(service: Service) -> dict[int, str]:
    with Session(service.store.engine) as session:
        return dict(session.execute(select(RecognitionRow.id, RecognitionRow.bundle_version)).all())


def serving_settings(current: Path, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        bundle=current,
        database_url=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        user_rate="100000/1",
        channel_rate="100000/1",
        **overrides,
    )


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --- the gate ---------------------------------------------------------------------------------------


def test_identical_copy_passes_with_leakage_reported(bundles: Bundles, capsys):
    assert darekana(["train", "compare", str(bundles.v1), str(bundles.v2), DATA, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["passed"] is True and result["reasons"] == []
    assert result["old"]["top1"] == result["new"]["top1"] > 0.5
    assert result["new"]["bundle"] == version_of(bundles.v2)
    # the whole dataset includes the faces both bundles trained on: counted and warned about
    split = json.loads((bundles.v1 / "split.json").read_text())
    fitted = len(split["train"]) + len(split["val"]) + len(split["calibration"])
    assert result["leakage"] == {"old": fitted, "new": fitted}
    # the same network: no face is named right by one bundle only
    assert result["paired"]["top1"] == {"faces": result["old"]["n"], "only_old": 0, "only_new": 0, "p": 1.0}
    assert "training, validation or calibration split" in captured.err and "--test-split-of" in captured.err


def test_held_back_faces_only_and_no_leakage(bundles: Bundles, held_back: list[Path], capsys):
    code = darekana(["train", "compare", str(bundles.v1), str(bundles.v2), DATA, "--test-split-of", str(bundles.v1)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert f"faces: {len(held_back)}" in captured.out and "PASS" in captured.out
    assert f"top1 right by one only: old 0, new 0 of {len(held_back)} faces both know (p 1.00)" in captured.out


def test_worse_bundle_refused_with_one_line_reason(bundles: Bundles, capsys):
    args = ["train", "compare", str(bundles.v1), str(bundles.worse), DATA, "--test-split-of", str(bundles.v1)]
    assert darekana(args + ["--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["passed"] is False and result["deltas"]["named_right"] < -0.01
    assert len(captured.err.strip().splitlines()) == 1
    refusal = f"darekana: refusing {bundles.worse}: worse than {bundles.v1}: named_right fell from"
    assert captured.err.startswith(refusal)
    # the swapped characters' faces, named right by the old bundle only: far beyond chance
    top1 = result["paired"]["top1"]
    assert top1["only_old"] > 10 * top1["only_new"] and top1["p"] < 0.001
    # the tolerance is the knob: a generous one lets it through
    assert darekana(args + ["--tolerance", "0.9"]) == 0


def test_the_gate_does_not_count_the_label_of_an_unknown_answer():
    """An "unknown" answer names nobody: top-1 counts its label, the gated ``named_right`` does not."""

    def decision(label: str, verdict: Verdict) -> Decision:
        return Decision([Candidate(label, label, 0.9)], Model.PRIMARY, verdict, 1.0)

    faces = [decision("a", Verdict.UNKNOWN), decision("a", Verdict.UNSURE), decision("a", Verdict.CONFIDENT)]
    figures = score(faces, ["a", "a", "b"], ["a", "b"])
    assert figures["top1"] == pytest.approx(2 / 3) and figures["named_right"] == pytest.approx(1 / 3)


def test_paired_counts_faces_right_by_one_bundle_only_and_how_likely_that_is_by_chance():
    faces = [Path(f"{i}.png") for i in range(14)]

    def scored(right: list[bool]) -> Scored:
        return Scored({}, {"top1": dict(zip(faces, right))})

    # 10 faces only the new bundle names right, 0 only the old, 4 both or neither; one face only the old knows
    old = scored([False] * 10 + [True, True, False, False])
    new = scored([True] * 10 + [True, True, False, False])
    old.right["top1"][Path("only-old-knows.png")] = True
    counts = paired(old, new)["top1"]
    assert counts == {"faces": 14, "only_old": 0, "only_new": 10, "p": round(2 * 0.5**10, 4)}
    # an even split (2 and 2) is what chance gives
    assert paired(new, scored([True] * 8 + [False] * 2 + [True] * 4))["top1"]["p"] == 1.0


def test_judge_rejection_quality_within_and_beyond_tolerance():
    old = {"named_right": 0.90, "known_false_rejection_rate": 0.05, "unknown_rejection_rate": 0.80}
    assert judge(old, {**old, "named_right": 0.895, "known_false_rejection_rate": 0.055}, 0.01) == []
    reasons = judge(old, {**old, "known_false_rejection_rate": 0.08, "unknown_rejection_rate": 0.70}, 0.01)
    assert [r.split()[0] for r in reasons] == ["known_false_rejection_rate", "unknown_rejection_rate"]
    assert "rose from 0.0500 to 0.0800" in reasons[0] and "fell from 0.8000 to 0.7000" in reasons[1]
    # unknown faces measured for one bundle only (it knows fewer characters): not comparable, not judged
    assert judge(old, {"named_right": 0.90, "known_false_rejection_rate": 0.05}, 0.01) == []


# --- promotion --------------------------------------------------------------------------------------


def test_promote_switches_the_link_and_current_says_so(bundles: Bundles, tmp_path: Path, capsys):
    current = tmp_path / "models" / "current"
    assert darekana(["bundle", "promote", str(bundles.v1), "--current", str(current)]) == 0
    assert current.resolve() == bundles.v1.resolve()
    assert darekana(["bundle", "promote", str(bundles.v2), "--current", str(current)]) == 0
    assert current.is_symlink() and current.resolve() == bundles.v2.resolve()
    assert not os.path.isabs(os.readlink(current))  # relative: the models folder can move as a whole
    assert os.listdir(current.parent) == ["current"]  # no temporary link left behind
    capsys.readouterr()
    assert darekana(["bundle", "current", "--current", str(current)]) == 0
    assert version_of(bundles.v2) in capsys.readouterr().out


def test_readers_never_see_the_link_missing_while_it_is_repointed(bundles: Bundles, tmp_path: Path):
    current = tmp_path / "current"
    promote(bundles.v1, current)
    seen: set[str] = set()
    missing: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:  # what a reloading server does: resolve the link, then open the manifest
                seen.add(load_manifest(os.path.realpath(current), verify=False).created_at)
            except (BundleError, OSError) as exc:
                missing.append(str(exc))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # let the reader run between any two steps of a re-pointing
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(500):  # point() is promote() after the load: the part that must be atomic
            point(current, bundles.v2)
            point(current, bundles.v1)
    finally:
        done.set()
        reader.join()
        sys.setswitchinterval(switch)
    assert missing == []
    assert seen == {load_manifest(b, verify=False).created_at for b in (bundles.v1, bundles.v2)}


def test_broken_bundle_refused_and_current_untouched(bundles: Bundles, broken: Path, tmp_path: Path, capsys):
    current = tmp_path / "current"
    promote(bundles.v1, current)
    capsys.readouterr()
    assert darekana(["bundle", "promote", str(broken), "--current", str(current)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"darekana: {broken}") and len(err.strip().splitlines()) == 1
    assert ("checksum mismatch" in err) if broken.name.endswith("checksum") else ("cannot be loaded" in err)
    assert current.resolve() == bundles.v1.resolve()


def test_a_real_directory_or_a_missing_link_is_reported(bundles: Bundles, tmp_path: Path, capsys):
    real = tmp_path / "current"
    real.mkdir()
    assert darekana(["bundle", "promote", str(bundles.v1), "--current", str(real)]) == 2
    assert "not a link" in capsys.readouterr().err and not real.is_symlink()
    assert darekana(["bundle", "current", "--current", str(tmp_path / "nothing")]) == 2
    assert "promote a bundle first" in capsys.readouterr().err


# --- the serving side -------------------------------------------------------------------------------


async def test_service_on_the_link_records_the_real_bundle(
    bundles: Bundles, tmp_path: Path, known_picture: tuple[bytes, str]
):
    current = tmp_path / "current"
    promote(bundles.v1, current)
    service = await Service.start(serving_settings(current, tmp_path))
    try:
        reply = await service.whois(known_picture[0], Requester("http", "a"))
        assert reply.recognition.bundle == service.recognizer.version == version_of(bundles.v1)  # not "current@..."
        assert stored_versions(service) == {reply.recognition_id: version_of(bundles.v1)}
    finally:
        service.close()


async def test_reload_refuses_a_broken_bundle_and_keeps_answering(
    bundles: Bundles, broken: Path, tmp_path: Path, known_picture: tuple[bytes, str], caplog
):
    service = await Service.start(serving_settings(bundles.v1, tmp_path))
    old = service.recognizer
    try:
        with caplog.at_level(logging.ERROR, logger="darekana"), pytest.raises(BundleError, match=str(broken)):
            await service.reload(broken)
        assert service.recognizer is old and f"kept {old.version}" in caplog.text
        reply = await service.whois(known_picture[0], Requester("http", "a"))
        assert reply.recognition.bundle == version_of(bundles.v1) and reply.faces[0].label == known_picture[1]
        assert await service.reload(bundles.v2) == version_of(bundles.v2)
        names = {c.label: c.name for c in service.store.characters()}
        assert "Renamed In V2" in names.values()  # the new bundle's characters were synced
    finally:
        service.close()


async def test_promotion_under_load_loses_no_request(
    bundles: Bundles, tmp_path: Path, known_picture: tuple[bytes, str]
):
    current = tmp_path / "models" / "current"
    promote(bundles.v1, current)
    settings = serving_settings(current, tmp_path, recognition_workers=2, queue_size=64, bundle_poll_s=0.05)
    service = await Service.start(settings)
    watcher = asyncio.create_task(watch_bundle(service, settings))
    picture, label = known_picture
    replies, stop = [], asyncio.Event()

    async def client(n: int) -> None:
        while not stop.is_set():
            replies.append(await service.whois(picture, Requester("http", f"client-{n}")))

    clients = [asyncio.create_task(client(n)) for n in range(4)]
    try:
        for target in [bundles.v2, bundles.v1, bundles.v2, bundles.v1, bundles.v2]:
            await asyncio.to_thread(promote, target, current)
            await until(lambda: service.recognizer.version == version_of(target))  # noqa: B023 - awaited here
            answered = len(replies)
            await until(lambda: len(replies) >= answered + 3)  # noqa: B023 - awaited here; some answers from each
    finally:
        stop.set()
        results = await asyncio.gather(*clients, return_exceptions=True)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        stored = stored_versions(service)
        service.close()
    assert [r for r in results if r is not None] == []  # every call succeeded
    assert {r.faces[0].label for r in replies} == {label}
    assert {r.recognition.bundle for r in replies} == {version_of(bundles.v1), version_of(bundles.v2)}
    assert stored == {r.recognition_id: r.recognition.bundle for r in replies}  # every answer stored, with its bundle


async def test_sighup_reloads_and_a_broken_target_keeps_the_old_bundle(
    bundles: Bundles, broken: Path, tmp_path: Path, caplog
):
    current = tmp_path / "current"
    promote(bundles.v1, current)
    settings = serving_settings(current, tmp_path, bundle_poll_s=0)  # 0: no polling, SIGHUP only
    service = await Service.start(settings)
    watcher = asyncio.create_task(watch_bundle(service, settings))
    try:
        await asyncio.sleep(0)  # the watcher installs its SIGHUP handler
        assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL  # or SIGHUP would end the test run
        promote(bundles.v2, current)
        await asyncio.sleep(0.3)
        assert service.recognizer.version == version_of(bundles.v1)  # not polled
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: service.recognizer.version == version_of(bundles.v2))
        # someone re-points the link by hand at a broken bundle: logged, the old one answers on
        tmp = tmp_path / "by-hand"
        os.symlink(broken, tmp)
        os.replace(tmp, current)
        with caplog.at_level(logging.ERROR, logger="darekana"):
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: f"kept {version_of(bundles.v2)}: {broken}" in caplog.text)
        assert service.recognizer.version == version_of(bundles.v2) and not watcher.done()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        service.close()
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # the watcher put SIGHUP back as it was
