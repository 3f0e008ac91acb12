"""Service benchmark: the HTTP API under concurrent clients, end to end (upload, queue, recognise, store).

    python -m bench.service [--bundle models/animeface-10] [--clients 8] [--requests 200] [--workers 0]
                            [--pictures small|40mp]

Starts the real service as ``darekana serve`` builds it (Service.start + the HTTP app, here with a fresh
SQLite database and relaxed rate limits) in a subprocess on 127.0.0.1, then ``--clients`` concurrent
clients post ``--requests`` real pictures, in turn. ``small``: animeface-10 face crops and 1024 px pictures
with three crops side by side. ``40mp``: two paperface-heads illustrations enlarged to 40 MP, each as a PNG
(9 and 17 MB) and as a JPEG. Prints one JSON line: latency p50/p95/max ms (all, and per kind of picture),
throughput, answers by HTTP status, faces recognised, memory (the server's peak RSS, the largest peak of
its decoder processes, and the peak PSS of all its processes together, sampled every 10 ms), and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.common import ROOT, machine, side_by_side
from darekana.train.shared import DATASETS


def small_pictures() -> list[tuple[str, bytes]]:
    """Face crops and three-face pictures, alternately (72 different pictures)."""
    from darekana.recognizer.images import load_image

    paths = sorted((DATASETS / "animeface-10").glob("*/face_*.png"))[::7]
    crops = [load_image(path) for path in paths]
    groups = [side_by_side(crops[i : i + 3], 1024) for i in range(0, len(crops) - 2, 3)]
    singles = [path.read_bytes() for path in paths]
    return [picture for pair in zip(singles, groups) for picture in (("crop", pair[0]), ("three_faces", pair[1]))]


def large_pictures() -> list[tuple[str, bytes]]:
    """Two real illustrations enlarged to 40 MP, as PNG and as JPEG (the PNGs take ~15 s to write)."""
    import io

    from PIL import Image

    from darekana.recognizer.images import load_image

    made = []
    for name in ("10.jpg", "100.jpg"):
        picture = load_image(DATASETS / "paperface-heads/pictures" / name)
        scale = (40e6 / (picture.width * picture.height)) ** 0.5
        large = picture.resize((int(picture.width * scale), int(picture.height * scale)), Image.Resampling.BICUBIC)
        for fmt in ("PNG", "JPEG"):
            out = io.BytesIO()
            large.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            made.append((f"{fmt.lower()}_40mp", out.getvalue()))
    return made


# --- the server, in its own process ------------------------------------------------------------------


async def serve(bundle: str, database_url: str, workers: int) -> None:
    """Runs until stdin closes; prints the port once listening."""
    from aiohttp import web

    from darekana.bot.http.api import make_app
    from darekana.bot.service import Service
    from darekana.bot.settings import Settings

    settings = Settings(
        bundle=Path(bundle),
        database_url=database_url,
        recognition_workers=workers,
        user_rate="1000000/1",
        channel_rate="1000000/1",
    )
    service = await Service.start(settings)
    runner = web.AppRunner(make_app(service, settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.to_thread(sys.stdin.read)  # the parent closes stdin, or dies, to stop us
    await runner.cleanup()
    service.close()


def start_server(args: argparse.Namespace, database_url: str) -> tuple[subprocess.Popen, int]:
    command = [
        sys.executable,
        "-m",
        "bench.service",
        "--serve",
        "--bundle",
        args.bundle,
        "--database-url",
        database_url,
        "--workers",
        str(args.workers),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None  # piped
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        raise SystemExit(f"the server did not start (exit status {process.wait()})")
    return process, int(port)


def _proc_mib(pid: int, file: str, field: str) -> float:
    """A memory figure (in kB there) of /proc/<pid>/<file>, in MiB; 0 for a process now gone. In ``status``:
    VmRSS now, VmHWM its peak; in ``smaps_rollup``: Pss, its memory with pages shared with others counted
    in shares."""
    try:
        lines = Path(f"/proc/{pid}/{file}").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith(f"{field}:")), 0.0)


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child belongs to the thread that started it
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for c in children for d in _descendants(c)]


class MemoryWatch:
    """Samples the memory of a process and of all its descendants (the decoder processes) every 10 ms."""

    def __init__(self, pid: int):
        self.pid, self.tree_peak, self.decoder_peak = pid, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            pids = [self.pid, *_descendants(self.pid)]
            self.tree_peak = max(self.tree_peak, sum(_proc_mib(p, "smaps_rollup", "Pss") for p in pids))
            self.decoder_peak = max([self.decoder_peak, *(_proc_mib(p, "status", "VmHWM") for p in pids[1:])])

    def figures(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {
            "server_peak_rss_mib": round(_proc_mib(self.pid, "status", "VmHWM"), 1),
            "decoder_peak_rss_mib": round(self.decoder_peak, 1),
            "all_processes_peak_pss_mib": round(self.tree_peak, 1),
        }


# --- the clients -------------------------------------------------------------------------------------


async def load(base: str, payloads: list[tuple[str, bytes]], clients: int, requests: int) -> dict[str, object]:
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in payloads}
    statuses: Counter[str] = Counter()
    faces = 0
    todo = iter(range(requests))

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal faces
        for i in todo:  # one shared iterator: each request is taken by exactly one client
            kind, payload = payloads[i % len(payloads)]
            start = time.perf_counter()
            try:
                status, body = await post_picture(session, base, payload)
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies[kind].append((time.perf_counter() - start) * 1000)
            statuses[str(status)] += 1
            faces += len(body.get("faces", []))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await post_picture(session, base, payloads[1][1])  # warm-up, not counted
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - start
    every = [ms for kind in latencies.values() for ms in kind]
    return {
        "latency_ms": {"all": percentiles(every), **{k: percentiles(v) for k, v in latencies.items() if v}},
        "throughput_rps": round(statuses["200"] / seconds, 2),
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "faces": faces,
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max": round(ordered[-1], 1),
    }


async def post_picture(session: aiohttp.ClientSession, base: str, payload: bytes) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("image", payload, filename="picture.png", content_type="image/png")
    async with session.post(f"{base}/api/v1/whois", data=form) as response:
        return response.status, await response.json()


async def bundle_version(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as response:
        return (await response.json())["bundle"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="models/animeface-10")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument(
        "--workers", type=int, default=0, help="recognitions at once (DAREKANA_RECOGNITION_WORKERS; 0: one per core)"
    )
    p.add_argument("--pictures", choices=["small", "40mp"], default="small")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server subprocess
    p.add_argument("--database-url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        asyncio.run(serve(args.bundle, args.database_url, args.workers))
        return
    payloads = small_pictures() if args.pictures == "small" else large_pictures()
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_server(args, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        memory = MemoryWatch(process.pid)
        try:
            base = f"http://127.0.0.1:{port}"
            figures: dict[str, object] = {
                "benchmark": "service",
                "machine": machine(),
                "bundle": asyncio.run(bundle_version(base)),
                "clients": args.clients,
                "requests": args.requests,
                "workers": args.workers,
                "pictures": args.pictures,
            }
            figures.update(asyncio.run(load(base, payloads, args.clients, args.requests)))
            figures.update(memory.figures())
        finally:
            if process.stdin is not None:  # piped: closing it stops the server
                process.stdin.close()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
