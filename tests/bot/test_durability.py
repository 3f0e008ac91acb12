"""``darekana serve`` as a real process: corrections that were acknowledged survive ``kill -9`` in the
middle of a burst, and a restart serves the same database."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import aiohttp
from processes import free_port, start_server

from darekana.bot.storage import Store, open_database


async def burst_until_killed(
    base: str,
    face_ids: list[int],
    process: subprocess.Popen,
    kill_after: int,
) -> set[int]:
    """Posts corrections from 8 clients at once; kills the server with SIGKILL after ``kill_after``
    acknowledgements. Returns the ids of every correction that was acknowledged."""
    acknowledged: set[int] = set()
    next_user = iter(range(10_000))

    async def client(session: aiohttp.ClientSession) -> None:
        while process.poll() is None:
            user = next(next_user)
            try:
                async with session.post(
                    f"{base}/api/v1/faces/{face_ids[user % len(face_ids)]}/corrections",
                    json={"label": f"character {user}", "user": f"tester-{user}"},
                ) as r:
                    if r.status == 201:
                        acknowledged.add((await r.json())["id"])
            except (TimeoutError, aiohttp.ClientError):
                return
            if len(acknowledged) >= kill_after and process.poll() is None:
                process.send_signal(signal.SIGKILL)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(client(session) for _ in range(8)))
    return acknowledged


async def test_acknowledged_corrections_survive_kill_9_and_restart(
    trained_bundle: Path, database_url: str, known_picture: tuple[bytes, str], tmp_path: Path
):
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    process = start_server(trained_bundle, database_url, port, log)
    try:
        async with aiohttp.ClientSession() as session:
            form = aiohttp.FormData()
            form.add_field("image", known_picture[0], filename="face.png", content_type="image/png")
            async with session.post(f"{base}/api/v1/whois", data=form) as r:
                assert r.status == 200, await r.text()
                face_ids = [face["id"] for face in (await r.json())["faces"]]
        acknowledged = await burst_until_killed(base, face_ids, process, kill_after=40)
        assert process.wait(10) == -signal.SIGKILL
    finally:
        process.kill()
    assert len(acknowledged) >= 40

    engine = open_database(database_url)
    stored = {row.id for row in Store(engine).feedback(limit=None)}
    engine.dispose()
    assert acknowledged <= stored, f"acknowledged but lost: {sorted(acknowledged - stored)}"

    process = start_server(trained_bundle, database_url, port, log)  # migrations run again: a no-op
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/faces/{face_ids[0]}/corrections", json={"label": "miku"}) as r:
                assert r.status == 201, await r.text()
            async with session.get(f"{base}/healthz") as r:
                assert r.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()[-2000:]
