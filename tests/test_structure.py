"""The house rules the tree must keep, checked on its source: which package may import which, and no
function longer than a screen. Each rule names what broke it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "darekana"
MAX_FUNCTION_LINES = 60

# package -> what it may never import (anywhere in it, at module level or inside a function)
FORBIDDEN = {
    "darekana.recognizer": ("darekana.train", "darekana.bot", "darekana.tag", "darekana.cli", "torch"),
    "darekana.tag": ("darekana.train", "darekana.bot", "darekana.cli", "torch"),
    "darekana.train": ("darekana.bot", "darekana.tag", "darekana.cli"),
    "darekana.bot": ("darekana.train", "darekana.tag", "darekana.cli", "torch"),
    # platform adapters translate to and from the Service; storage is the Service's own
    "darekana.bot.discord": ("darekana.bot.storage",),
    "darekana.bot.twitter": ("darekana.bot.storage",),
    "darekana.bot.http": ("darekana.bot.storage",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> Iterator[tuple[str, Path, ast.Module]]:
    """darekana's modules, less the Alembic migrations: history that is never edited once it shipped (a
    migration's ``upgrade`` is one long declaration of tables, not logic)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield module_name(path), path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def imports(module: str, path: Path, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module ``tree`` imports, relative imports resolved, with its line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            yield node.lineno, target
            yield from ((node.lineno, f"{target}.{alias.name}") for alias in node.names)


def inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def broken_rules(module: str, path: Path, tree: ast.Module) -> list[str]:
    found = []
    for package, forbidden in FORBIDDEN.items():
        if inside(module, package):
            found += [
                f"{path.relative_to(PACKAGE.parent)}:{line} ({package}) imports {name}"
                for line, name in imports(module, path, tree)
                if any(inside(name, f) for f in forbidden)
            ]
    return found


def test_packages_import_only_in_one_direction():
    broken = [problem for module, path, tree in sources() for problem in broken_rules(module, path, tree)]
    assert not broken, "\n".join(broken)


def long_functions(path: Path, tree: ast.Module) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_function_is_longer_than_a_screen():
    long = [problem for _, path, tree in sources() for problem in long_functions(path, tree)]
    assert not long, "\n".join(long)


@pytest.mark.parametrize(
    "module, source, broken",
    [
        ("darekana.recognizer.x", "import torch", True),
        ("darekana.recognizer.x", "def f():\n    from darekana.train import fit", True),
        ("darekana.bot.discord.x", "from ..storage import Store", True),
        ("darekana.bot.discord.x", "from ..service import Service", False),
        ("darekana.tag.x", "from darekana.recognizer.engine import Recognizer", False),
    ],
)
def test_the_import_rules_can_fail(module: str, source: str, broken: bool, tmp_path: Path):
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    assert bool(broken_rules(module, path, ast.parse(source))) is broken


def test_the_length_rule_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(PACKAGE / "x.py", ast.parse(f"def f():\n{body}\n"))
