"""Pictures the tests send: files of ``../shared/datasets``, and a group picture of three known faces."""

from __future__ import annotations

from bench.common import side_by_side
from darekana.recognizer.images import load_image
from darekana.train.shared import DATASETS


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


def slow_jpeg(side: int = 4000) -> bytes:
    """A JPEG within every decode limit that still takes long to read: ``side``² pixels in 99 scans (about
    0.6 s at 4000 on a 2-core EPYC, 1.3 s at 6000)."""
    import io

    picture = load_image(DATASETS / "paperface-heads/pictures/236.jpg").resize((side, side))
    out = io.BytesIO()
    picture.save(out, "JPEG", progressive=True, quality=5)
    jpeg = out.getvalue()
    return repeat_last_scan(jpeg, 99 - jpeg.count(b"\xff\xda"))


def repeat_last_scan(jpeg: bytes, times: int) -> bytes:
    """A progressive ``jpeg`` with its final scan ``times`` more times: each repeat is another pass over the
    picture."""
    last = jpeg.rindex(b"\xff\xda")
    return jpeg[:last] + jpeg[last:-2] * (times + 1) + b"\xff\xd9"
