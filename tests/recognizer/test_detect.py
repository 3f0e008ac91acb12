"""Tests for recognizer.detect's shared machinery (reading order, cropping, framing) and the animeface
detector on real anime face crops from the shared datasets. FaceBoxes: tests/test_faceboxes.py."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import PIL
import pytest
from PIL import Image

from darekana.recognizer.detect import (
    ANIMEFACE_SPEC,
    Box,
    DetectedFace,
    Framing,
    crop_face,
    measure_framing,
    reading_order,
)
from darekana.recognizer.detectors import AnimefaceDetector
from darekana.recognizer.images import load_image
from darekana.train.shared import DATASETS


def spread(dataset: str, per_folder: int, pattern: str = "*", folders: int | None = None) -> list[Path]:
    """The first ``per_folder`` sorted files matching ``pattern`` in each (of the first ``folders``) characters."""
    characters = sorted(p for p in (DATASETS / dataset).iterdir() if p.is_dir())[:folders]
    return [path for folder in characters for path in sorted(folder.glob(pattern))[:per_folder]]


def load_all(paths: list[Path]) -> list[Image.Image]:
    return [load_image(p) for p in paths]


def face(x: int, y: int, side: int = 50, score: float = 1.0) -> DetectedFace:
    return DetectedFace(Box(x, y, side, side), score)


ANIMEFACE = AnimefaceDetector(ANIMEFACE_SPEC)
detect_faces = ANIMEFACE.detect


# --- the detector on real pictures ----------------------------------------------------------------------


def test_pillow_is_older_than_12():
    major = int(PIL.__version__.split(".")[0])
    assert major < 12, (
        f"Pillow {PIL.__version__} is installed: animeface's C extension reads Pillow's internal image struct, "
        "whose layout changed in Pillow 12, so it silently finds no faces; pin pillow<12"
    )


def test_detector_finds_faces_in_real_crops():
    paths = spread("animeface-10", 5, "face_*.png")
    assert len(paths) > 40 and len({p.parent for p in paths}) == 10
    found = [len(detect_faces(img)) >= 1 for img in load_all(paths)]
    rate = sum(found) / len(found)
    assert rate >= 0.60, (
        f"faces found in only {sum(found)}/{len(found)} real crops ({rate:.0%}; ~75% expected): "
        f"is Pillow >= 12 installed (animeface reads its internal struct)? Pillow {PIL.__version__}"
    )


def test_detected_faces_are_sane(real_crops):
    for img in real_crops:
        for f in detect_faces(img):
            assert 0.5 <= f.score <= 1.0
            assert f.box.w > 0 and f.box.h > 0
            assert 0 <= f.box.x and f.box.x + f.box.w <= img.width + 1
            assert 0 <= f.box.y and f.box.y + f.box.h <= img.height + 1


def test_blank_picture_has_no_faces():
    assert detect_faces(Image.new("RGB", (320, 240), "white")) == []


def test_large_picture_is_downscaled_and_boxes_mapped_back():
    folders = sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())[:3]
    crops = [load_image(sorted(f.glob("face_*.png"))[0]) for f in folders]
    canvas = Image.new("RGB", (2400, 1000), "white")
    regions = []
    for i, crop in enumerate(crops):
        big = crop.resize((crop.width * 3, crop.height * 3), Image.Resampling.BICUBIC)
        assert 440 <= big.width <= 490
        x, y = 100 + i * 800, 260
        canvas.paste(big, (x, y))
        regions.append((x, y, x + big.width, y + big.height))

    faces = detect_faces(canvas)  # ANIMEFACE_SPEC.max_side is 1024

    assert len(faces) >= 2, f"expected faces in at least 2 of the 3 pasted crops, got {faces}"
    slack = 3  # one pixel of the downscaled picture is ~2.3 pixels here
    owners = []
    for f in faces:
        b = f.box
        inside = [
            i
            for i, (x0, y0, x1, y1) in enumerate(regions)
            if b.x >= x0 - slack and b.y >= y0 - slack and b.x + b.w <= x1 + slack and b.y + b.h <= y1 + slack
        ]
        assert inside, f"{b} lies in none of the pasted regions {regions}: boxes not mapped back to full size?"
        owners.append(inside[0])
        # A face in a 480 px crop is far bigger than anything the downscaled picture's coordinates would give.
        assert b.w > 100, f"{b} looks like it is in downscaled coordinates"
    assert owners == sorted(owners) and len(set(owners)) == len(owners), "faces not in left-to-right order"
    assert [f.box.x for f in faces] == sorted(f.box.x for f in faces)


def test_detect_is_thread_safe(real_crops):
    image = real_crops[0]
    expected = detect_faces(image)
    assert expected, "the first real crop should hold a detectable face"
    with ThreadPoolExecutor(max_workers=4) as pool:
        same = list(pool.map(lambda _: detect_faces(image), range(8)))
        different = list(pool.map(detect_faces, real_crops))
    assert all(result == expected for result in same)
    assert different == [detect_faces(img) for img in real_crops]


# --- reading order ----------------------------------------------------------------------------------------


def test_reading_order_rows_top_to_bottom_then_left_to_right():
    top = [face(400, 100), face(50, 100), face(250, 110)]  # the middle one sits 10 px lower: same row
    bottom = [face(300, 400), face(20, 410), face(160, 390)]
    shuffled = top + bottom
    random.Random(3).shuffle(shuffled)
    ordered = reading_order(shuffled)
    assert [(f.box.x, f.box.y) for f in ordered] == [
        (50, 100),
        (250, 110),
        (400, 100),
        (20, 410),
        (160, 390),
        (300, 400),
    ]


def test_reading_order_slightly_lower_face_joins_the_row():
    left_low, right_high = face(10, 120), face(200, 100)  # left one 20 px lower, its centre (145) within 100..150
    assert reading_order([right_high, left_low]) == [left_low, right_high]
    far_below = face(10, 200)  # centre 225 lies below the first box (100..150): a new row
    assert reading_order([far_below, right_high]) == [right_high, far_below]


def test_reading_order_faces_of_different_sizes_in_one_row():
    # Measured on a real group picture: the detector's boxes for three faces side by side.
    middle, right, left = (
        DetectedFace(Box(x, y, s, s), 0.9) for x, y, s in ((473, 242, 88), (794, 231, 116), (101, 274, 116))
    )
    assert reading_order([middle, right, left]) == [left, middle, right]


def test_reading_order_empty_and_single():
    assert reading_order([]) == []
    only = face(5, 5)
    assert reading_order([only]) == [only]


# --- cropping -------------------------------------------------------------------------------------------------


def test_crop_face_is_square_in_the_middle():
    image = Image.new("RGB", (400, 400), "white")
    assert crop_face(image, Box(150, 150, 60, 60), Framing()).size == (84, 84)
    assert crop_face(image, Box(150, 150, 60, 40), Framing(scale=2.0, top=1.0)).size == (120, 120)


def test_crop_face_framing_region():
    image = Image.new("RGB", (400, 400), "black")
    image.paste((255, 0, 0), (75, 75, 175, 175))  # exactly the expected region, in red
    crop = crop_face(image, Box(100, 100, 50, 50), Framing(scale=2.0, top=1.0))
    assert crop.size == (100, 100)
    assert crop.getcolors() == [(100 * 100, (255, 0, 0))]


def test_crop_face_hair_above():
    image = Image.new("RGB", (400, 400), "white")
    # top 1.5 boxes above the centre: region y from 125 - 75 = 50, 100 px tall (scale 2)
    image.paste((0, 0, 255), (75, 50, 175, 150))
    crop = crop_face(image, Box(100, 100, 50, 50), Framing(scale=2.0, top=1.5))
    assert crop.size == (100, 100)
    assert crop.getcolors() == [(100 * 100, (0, 0, 255))]


def test_crop_face_is_clipped_not_padded_at_edges():
    image = Image.new("RGB", (400, 400), "white")
    corner = crop_face(image, Box(0, 0, 50, 50), Framing())  # region (-10, -10)-(60, 60)
    assert corner.size == (60, 60)
    far = crop_face(image, Box(350, 350, 50, 50), Framing())  # region (340, 340)-(410, 410)
    assert far.size == (60, 60)
    assert corner.getcolors() == [(60 * 60, (255, 255, 255))]  # nothing padded in
    wide = crop_face(image, Box(150, 150, 100, 100), Framing(scale=5.0, top=2.5))
    assert wide.size == (400, 400)


def test_crop_face_outside_raises():
    image = Image.new("RGB", (400, 400))
    with pytest.raises(ValueError, match="outside"):
        crop_face(image, Box(500, 500, 50, 50), Framing())
    with pytest.raises(ValueError):
        crop_face(image, Box(-300, 10, 50, 50), Framing())


# --- measuring a dataset's framing --------------------------------------------------------------------------


def test_measure_framing_animeface():
    framing = measure_framing(load_all(spread("animeface-10", 6, "face_*.png")), ANIMEFACE)
    assert framing is not None
    assert 2.2 <= framing.scale <= 3.0, framing
    assert 1.4 <= framing.top <= 2.1, framing  # the face sits low: hair above
    assert framing.top > framing.scale / 2


def test_measure_framing_hololive():
    framing = measure_framing(load_all(spread("hololive-20", 10, "*.jpg", folders=6)), ANIMEFACE)
    assert framing is not None
    assert 1.2 <= framing.scale <= 1.7, framing
    assert abs(framing.top - framing.scale / 2) < 0.25, framing  # roughly centred


def test_measure_framing_without_faces_is_none():
    blanks = [Image.new("RGB", (160, 160), "white") for _ in range(12)]
    assert measure_framing(blanks, ANIMEFACE) is None
    assert measure_framing([], ANIMEFACE) is None
