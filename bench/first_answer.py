"""From a fresh clone to the first answer: ``git clone`` this checkout beside ``../shared``, run ``make run``
there as a newcomer would, and time how long until ``POST /api/v1/whois`` names the characters of a real
picture.

    python -m bench.first_answer [--port 8091] [--timeout 1800] [--keep]

The clone is made next to this checkout (so that its ``../shared`` is the same) and deleted afterwards unless
``--keep``. pip's cache is the machine's, as for anyone who has installed Python packages before; no model
is copied from this checkout: the clone makes its bundle itself. Prints one JSON line: seconds until the
set-up finished (``.venv/.installed``), until the bundle was written, until the server listened, and until
the first answer, with the answer's first face.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

from bench.common import ROOT, machine
from darekana.train.shared import DATASETS

PICTURE = DATASETS / "animeface-10" / "000_hatsune_miku" / "SFpLpPSK_400x400.jpg"


def whois(port: int, picture: Path) -> dict | None:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{picture.name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + picture.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/whois",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except OSError:
        return None


def run(clone: Path, port: int, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "DAREKANA_HTTP_PORT": str(port), "DAREKANA_DISCORD_TOKEN": ""}
    marks: dict[str, float] = {}
    with (clone.parent / f"{clone.name}.log").open("w") as log:
        make = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        answer = _watch(make, clone, port, started, timeout, marks)
    faces = (answer or {}).get("faces", [])
    first = {k: faces[0].get(k) for k in ("name", "confidence", "verdict")} if faces else None
    return {f"seconds_to_{k}": v for k, v in marks.items()} | {"answer": first, "make_exit": make.returncode}


def _watch(
    make: subprocess.Popen, clone: Path, port: int, started: float, timeout: float, marks: dict[str, float]
) -> dict | None:
    """Polls until the first answer (or ``make`` ends, or time is up), noting when each stage was done."""
    answer = None
    try:
        while time.monotonic() - started < timeout and make.poll() is None:
            now = round(time.monotonic() - started, 1)
            if "setup" not in marks and (clone / ".venv" / ".installed").is_file():
                marks["setup"] = now
            if "bundle" not in marks and (clone / "models" / "115" / "manifest.json").is_file():
                marks["bundle"] = now
            answer = whois(port, PICTURE) if "bundle" in marks else None
            if answer is not None:
                marks["first_answer"] = round(time.monotonic() - started, 1)
                break
            time.sleep(1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        make.wait(60)
    return answer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8091)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--keep", action="store_true", help="keep the clone and its log")
    args = p.parse_args()
    clone = ROOT.parent / f"darekana-first-answer-{uuid.uuid4().hex[:8]}"
    try:
        figures = run(clone, args.port, args.timeout)
    finally:
        if not args.keep:
            shutil.rmtree(clone, ignore_errors=True)
            clone.with_name(f"{clone.name}.log").unlink(missing_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    print(json.dumps({"benchmark": "first_answer", "machine": machine(), "commit": commit.stdout.strip()} | figures))


if __name__ == "__main__":
    main()
