"""Pictures the tests send: files of ``../shared/datasets``, and a group picture of three known faces."""

from __future__ import annotations

from darekana.recognizer.images import load_image
from darekana.train.shared import DATASETS, side_by_side


def picture_bytes(relative: str) -> bytes:
    """A file of ``../shared/datasets`` as bytes, e.g. ``picture_bytes("animeface-10/000_hatsune_miku/x.png")``."""
    return (DATASETS / relative).read_bytes()


GROUP_FACES = (
    "000_hatsune_miku/face_128_326_108.png",
    "000_hatsune_miku/face_531_113_29.png",
    "001_kinomoto_sakura/face_245_245_32.png",
)


def group_picture(side: int = 1024) -> bytes:
    """A PNG with three real faces side by side (the detector finds all three), left to right as in
    ``GROUP_FACES``."""
    return side_by_side([load_image(DATASETS / "animeface-10" / relative) for relative in GROUP_FACES], side)
