"""Shared test helpers: where the shared datasets live, and a handful of real face crops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from recognizer.images import load_image

# ../shared/datasets, the project root's sibling (never copied into the repository).
DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture
def real_crops() -> list[Image.Image]:
    """12 real RGB face crops from animeface-10: the first two ``face_*.png`` of the first two characters,
    the first one of each other character."""
    folders = sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())
    paths = [path for i, folder in enumerate(folders) for path in sorted(folder.glob("face_*.png"))[:2 if i < 2 else 1]]
    assert len(paths) == 12, f"expected 12 crops from {DATASETS / 'animeface-10'}, found {len(paths)}"
    return [load_image(path) for path in paths]


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train.finetune import FinetuneConfig
    from train.fit import FitConfig, fit

    out = tmp_path_factory.mktemp("bundles") / "animeface-10"
    return fit([DATASETS / "animeface-10"], out, FitConfig(finetune=FinetuneConfig(epochs=3))).bundle


@pytest.fixture(scope="session")
def held_back(trained_bundle: Path) -> list[Path]:
    """The test split's faces: never seen in training or threshold calibration."""
    return [Path(p) for p in json.loads((trained_bundle / "split.json").read_text())["test"]]
