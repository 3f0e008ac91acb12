"""What both the tests and the docstring examples (run as doctests) use: a bundle trained once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from darekana.train.shared import DATASETS


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """animeface-10 on the shipped base network (frozen: half a minute on two cores); without one, fine-tuned
    for three epochs (about a minute)."""
    from darekana.train.configs import FinetuneConfig, FitConfig
    from darekana.train.fit import fit

    out = tmp_path_factory.mktemp("bundles") / "animeface-10"
    return fit([DATASETS / "animeface-10"], out, FitConfig(finetune=FinetuneConfig(epochs=3))).bundle


@pytest.fixture(scope="session")
def held_back(trained_bundle: Path) -> list[Path]:
    """The test split's faces: never seen in training or threshold calibration."""
    return [Path(p) for p in json.loads((trained_bundle / "split.json").read_text())["test"]]


@pytest.fixture(autouse=True)
def _doctest_bundle(request: pytest.FixtureRequest, doctest_namespace: dict[str, Any]) -> None:
    """``BUNDLE`` in the examples that need a bundle (trained only when such an example runs)."""
    if isinstance(request.node, pytest.DoctestItem) and "BUNDLE" in request.node.dtest.docstring:
        doctest_namespace["BUNDLE"] = request.getfixturevalue("trained_bundle")
