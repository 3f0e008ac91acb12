"""The README's two commands set up what each needs: ``make run`` the service alone, ``make test`` the test tools
too. Read off ``make``'s dry run, which prints the commands without running them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(target: str) -> str:
    """The commands ``make target`` would run on a fresh clone (``-B``: as if nothing were made yet)."""
    return subprocess.run(
        ["make", "--dry-run", "--always-make", "-C", str(ROOT), target], capture_output=True, text=True, check=True
    ).stdout


def installs(commands: str) -> list[str]:
    return [line for line in commands.splitlines() if "pip install" in line and "--upgrade pip" not in line]


def test_the_service_is_set_up_without_the_test_tools():
    commands = installs(dry_run("setup"))
    assert commands and all("[test]" not in line for line in commands), commands


def test_the_tests_get_their_tools():
    assert any('".[test]"' in line for line in installs(dry_run("test"))), dry_run("test")


@pytest.mark.parametrize("target", ["setup", "test"])
def test_nothing_is_compiled_at_install(target: str):
    assert all("--no-compile" in line for line in installs(dry_run(target)))
