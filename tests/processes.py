"""Running darekana as a separate process, as people do: a free port, and waiting until it listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def darekana(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``darekana ARGS`` run to its end, as a person types it."""
    return subprocess.run(
        [sys.executable, "-m", "darekana.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until_listening(process: subprocess.Popen, port: int, log: Path, seconds: float = 90) -> str:
    """The server's base URL once it accepts connections; fails with its log if it exits or never listens."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"darekana serve exited: {log.read_text()[-3000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"darekana serve did not listen on {port}: {log.read_text()[-3000:]}")


def start_server(
    bundle: Path, database_url: str, port: int, log: Path, cwd: Path | None = None, **settings: str
) -> subprocess.Popen:
    """``darekana serve`` on ``port``, without Discord and with rate limits out of the way (``settings``: more
    ``DAREKANA_*`` variables, by their lower-case names); returned once it listens."""
    env = {
        **os.environ,
        "DAREKANA_BUNDLE": str(bundle),
        "DAREKANA_DATABASE_URL": database_url,
        "DAREKANA_HTTP_PORT": str(port),
        "DAREKANA_USER_RATE": "100000/1",
        "DAREKANA_CHANNEL_RATE": "100000/1",
        "DAREKANA_DISCORD_TOKEN": "",
        **{f"DAREKANA_{k.upper()}": v for k, v in settings.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "darekana.cli", "serve"],
        cwd=cwd,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    until_listening(process, port, log, seconds=60)
    return process
