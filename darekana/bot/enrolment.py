"""Enrolling faces the moderators named, the way a person would at the command line: ``darekana train
enroll`` makes a new bundle, ``darekana train compare`` gates it against the bundle answering now on that
bundle's held-back test faces, and only then ``darekana bundle promote`` makes it the current one.

The two training commands run as child processes: they load torch and the training data, which the serving
process never holds, and whatever goes wrong there cannot take the bot down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from darekana.recognizer.layout import partial

from .errors import Conflict
from .records import UnknownFace

log = logging.getLogger("darekana")

COMMAND_TIMEOUT_S = 1800.0  # enrolling refits the SVM on every training face: minutes for large bundles


@dataclass(frozen=True)
class Gate:
    """What ``train compare`` said of a new bundle."""

    passed: bool
    reasons: list[str]
    faces: int  # held-back faces both bundles were scored on
    deltas: dict[str, float]  # new minus old, per gated figure


@dataclass(frozen=True)
class Candidate:
    """A new bundle that passed the gate, not yet promoted."""

    path: Path
    gate: Gate


async def gated_bundle(
    current: Path, faces: Sequence[UnknownFace], label: str, out: Path, data: list[str], tolerance: float
) -> Candidate:
    """``current`` plus ``faces`` as the character ``label``, at ``out``, once it passed the gate against
    ``current`` on its held-back faces among ``data`` (the folders it was fitted on); removed when it did not."""
    with tempfile.TemporaryDirectory(prefix="darekana-enroll-") as work:
        folder = Path(work) / label
        folder.mkdir()
        for face in faces:  # named like the export's crops: faces of one picture stay together
            (folder / f"{face.picture_sha256[:32]}-{face.face_id}.png").write_bytes(face.crop_png)
        try:
            await enroll(current, Path(work), out)
            verdict = await gate(current, out, data, tolerance)
        except BaseException:
            discard(out)
            raise
    if not verdict.passed:
        discard(out)
        raise Conflict(f"the new bundle was refused, {current.name} answers on: {'; '.join(verdict.reasons)}")
    return Candidate(out, verdict)


async def enroll(current: Path, faces: Path, out: Path) -> None:
    """A new bundle at ``out``: ``current`` plus the character folders in ``faces``."""
    await _darekana("train", "enroll", str(current), str(faces), "--out", str(out))


async def gate(old: Path, new: Path, data: list[str], tolerance: float) -> Gate:
    """``new`` against ``old`` on ``old``'s held-back test faces among ``data`` (the folders it was fitted on)."""
    missing = [folder for folder in data if not Path(folder).exists()]
    if not data or missing:
        raise Conflict(
            f"cannot gate the new bundle: the faces {old.name} was trained on are not on this machine "
            f"({', '.join(missing) or 'none recorded'})"
        )
    args = ["train", "compare", str(old), str(new), *data, "--test-split-of", str(old)]
    output = await _darekana(*args, "--tolerance", str(tolerance), "--json", refused_ok=True)
    result = json.loads(output)
    return Gate(result["passed"], result["reasons"], result["faces"], result["deltas"])


async def _darekana(*args: str, refused_ok: bool = False) -> str:
    """Runs ``darekana ARGS`` and returns what it printed; exit 1 is an answer when ``refused_ok`` (the gate's
    "worse"), any other failure a :class:`Conflict` with the command's own last words."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "darekana", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), COMMAND_TIMEOUT_S)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise Conflict(f"darekana {args[0]} {args[1]} took longer than {COMMAND_TIMEOUT_S:g} s: stopped") from None
    if child.returncode == 0 or (refused_ok and child.returncode == 1):
        return out.decode()
    last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
    log.error("darekana %s failed (exit %s): %s", " ".join(args), child.returncode, err.decode(errors="replace"))
    raise Conflict(f"darekana {args[0]} {args[1]} failed: {last.removeprefix('darekana: ')}")


def discard(bundle: Path) -> None:
    """A refused bundle is removed: it must never be promoted by mistake, and bundles are large."""
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.rmtree(partial(bundle), ignore_errors=True)
