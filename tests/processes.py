"""Running darekana as a separate process, as people do: a free port, and waiting until it listens."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest


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
