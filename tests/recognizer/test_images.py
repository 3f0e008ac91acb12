"""Tests for darekana.recognizer.images: every input is generated here with Pillow or by hand, except one real
picture from the shared dataset."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from darekana.recognizer.images import ORIGINAL_SIZE, DecodeLimits, ImageError, decode_image, load_image, sniff_format
from darekana.train.shared import DATASETS

from pictures import repeat_last_scan

DATASET_DIR = DATASETS / "animeface-10/000_hatsune_miku"

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def noise_png(size: tuple[int, int] = (64, 48)) -> bytes:
    # Noise does not compress, so cutting the file in half really removes pixel data.
    return encode(Image.effect_noise(size, 60).convert("RGB"), "PNG")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width``×``height`` 8-bit RGB, with no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 marker is patched to declare ``width``×``height``."""
    data = encode(Image.new("RGB", (16, 16), GREEN), "JPEG")
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def assert_close(pixel: tuple[int, ...], expected: tuple[int, ...], tol: int = 8) -> None:
    assert all(abs(a - b) <= tol for a, b in zip(pixel, expected, strict=True)), (pixel, expected)


# --- accepted formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "tol"),
    [
        ("JPEG", {"quality": 95}, 8),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("GIF", {}, 0),
        ("BMP", {}, 0),
    ],
)
def test_each_accepted_format_round_trips_to_rgb(fmt: str, params: dict, tol: int) -> None:
    original = Image.new("RGB", (37, 23), (200, 40, 90))
    img = decode_image(encode(original, fmt, **params))
    assert img.mode == "RGB"
    assert img.size == (37, 23)
    assert_close(img.getpixel((18, 11)), (200, 40, 90), tol)
    # Fully loaded and detached: usable with no file behind it.
    assert img.copy().tobytes()


def test_format_is_identified_by_magic_bytes() -> None:
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "PNG")) == "PNG"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "WEBP")) == "WEBP"
    assert sniff_format(encode(Image.new("RGB", (2, 2)), "BMP")) == "BMP"


def test_real_dataset_picture_decodes_with_its_real_size() -> None:
    if not DATASET_DIR.is_dir():
        pytest.skip(f"shared dataset not present at {DATASET_DIR}")
    path = sorted(DATASET_DIR.glob("*.png"))[0]
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # from the IHDR chunk, independently of Pillow
    for img in (decode_image(data), load_image(path), load_image(str(path))):
        assert img.mode == "RGB"
        assert img.size == (width, height)
        assert img.getextrema() != ((0, 0), (0, 0), (0, 0))  # real content, not a blank canvas


# --- rejected input ---------------------------------------------------------------------------------


def test_empty_bytes() -> None:
    with pytest.raises(ImageError, match="^empty file"):
        decode_image(b"")


def test_text_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image") as info:
        decode_image("Hatsune Miku, 初音ミク\n".encode() * 20)
    assert "JPEG, PNG, WebP, GIF or BMP" in str(info.value)


def test_text_starting_with_bm_is_not_taken_for_a_bitmap() -> None:
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"BMW and other cars are not bitmaps at all")


def test_tiff_is_refused_by_name() -> None:
    data = encode(Image.new("RGB", (8, 8), RED), "TIFF")
    with pytest.raises(ImageError, match="unsupported image format: TIFF"):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_refused_not_greyed(fmt: str) -> None:
    if fmt == "PNG":
        data = noise_png()
    else:
        data = encode(Image.effect_noise((64, 48), 60).convert("RGB"), "JPEG")
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(ImageError, match="corrupt|truncated"):
        decode_image(data[: len(data) // 2])
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # the global is left alone


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "BMP"])
def test_truncated_other_formats_raise_image_error(fmt: str) -> None:
    data = encode(Image.effect_noise((64, 48), 60).convert("RGB"), fmt)
    with pytest.raises(ImageError, match="corrupt|truncated"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize("cut", [3, 8, 12, 20, 33, 60])
def test_any_prefix_of_a_png_raises_only_image_error(cut: int) -> None:
    # Whatever Pillow raises internally (SyntaxError, struct.error, EOFError, ...) must come out as ImageError.
    with pytest.raises(ImageError):
        decode_image(noise_png()[:cut])


def test_corrupted_pixel_data_raises_image_error() -> None:
    data = bytearray(noise_png())
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = b"\x00" * 40  # zlib stream and CRC no longer match
    with pytest.raises(ImageError, match="corrupt|truncated"):
        decode_image(bytes(data))


def test_byte_limit_is_checked_first_with_a_readable_message() -> None:
    limits = DecodeLimits(max_bytes=1024 * 1024)
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * 1024 * 1024 // 2)  # 1.5 MB, not even parsed
    with pytest.raises(ImageError, match=r"^file too large: 1\.5 MB > 1\.0 MB$"):
        decode_image(data, limits)


def test_byte_limit_default_message() -> None:
    data = b"\x00" * int(25.3 * 1024 * 1024)
    with pytest.raises(ImageError, match=r"^file too large: 25\.3 MB > 20\.0 MB$"):
        decode_image(data)


# --- decompression bombs --------------------------------------------------------------------------


def test_png_header_bomb_is_refused_without_decoding() -> None:
    data = png_header_only(50_000, 50_000)
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert time.perf_counter() - start < 1.0
    assert str(info.value) == "image too large: 50000×50000 > 40 MP"


@pytest.mark.parametrize(("width", "height"), [(50_000, 50_000), (12_000, 9_000), (7_000, 6_000)])
def test_jpeg_bomb_is_refused_from_its_header(width: int, height: int) -> None:
    # 50000² trips Pillow's DecompressionBombError, 12000×9000 its warning, 7000×6000 only our limit:
    # all three must read the same way.
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        decode_image(jpeg_claiming(width, height))
    assert time.perf_counter() - start < 1.0
    assert str(info.value) == f"image too large: {width}×{height} > 40 MP"


def test_pixel_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (300, 200), BLUE), "PNG")
    with pytest.raises(ImageError, match=r"^image too large: 300×200 > 0\.05 MP$"):
        decode_image(data, DecodeLimits(max_pixels=50_000))
    assert decode_image(data, DecodeLimits(max_pixels=60_000)).size == (300, 200)


def test_pillow_global_limit_is_untouched() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError):
        decode_image(png_header_only(50_000, 50_000))
    with pytest.raises(ImageError):
        decode_image(jpeg_claiming(50_000, 50_000))
    assert Image.MAX_IMAGE_PIXELS == before


def test_zero_width_is_refused() -> None:
    with pytest.raises(ImageError, match="empty image"):
        decode_image(png_header_only(0, 10))


# --- frames, orientation, colour modes ----------------------------------------------------------------


def test_animated_gif_gives_the_first_frame() -> None:
    frames = [Image.new("RGB", (16, 12), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    img = decode_image(data)
    assert img.mode == "RGB" and img.size == (16, 12)
    assert img.getpixel((8, 6)) == RED


def test_exif_orientation_6_rotates() -> None:
    im = Image.new("RGB", (20, 10), BLUE)
    im.paste(RED, (0, 0, 5, 10))  # left edge red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img = decode_image(encode(im, "JPEG", exif=exif, quality=95))
    assert img.size == (10, 20)
    assert_close(img.getpixel((5, 1)), RED, 40)  # the left edge is now on top
    assert_close(img.getpixel((5, 18)), BLUE, 40)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("exif", [b"Exif\x00\x00garbage", b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"])
def test_broken_exif_does_not_fail_the_decode(exif: bytes) -> None:
    img = decode_image(encode(Image.new("RGB", (20, 10), GREEN), "JPEG", exif=exif))
    assert img.mode == "RGB" and img.size == (20, 10)


def test_transparent_rgba_becomes_white() -> None:
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    im.putpixel((1, 1), (0, 0, 0, 0))  # fully transparent black
    im.putpixel((2, 2), (0, 0, 255, 128))  # half-transparent blue
    img = decode_image(encode(im, "PNG"))
    assert img.mode == "RGB"
    assert img.getpixel((1, 1)) == WHITE
    assert img.getpixel((0, 0)) == RED
    assert_close(img.getpixel((2, 2)), (127, 127, 255), 2)


def test_palette_transparency_becomes_white() -> None:
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    im.putpixel((3, 3), 0)
    data = encode(im, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"
    img = decode_image(data)
    assert img.getpixel((3, 3)) == WHITE
    assert img.getpixel((0, 0)) == GREEN


def test_gif_transparency_becomes_white() -> None:
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    im.putpixel((0, 0), 0)
    img = decode_image(encode(im, "GIF", transparency=0))
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((2, 2)) == BLUE


def test_grey_alpha_becomes_rgb_over_white() -> None:
    im = Image.new("LA", (3, 3), (0, 255))
    im.putpixel((1, 1), (0, 0))
    img = decode_image(encode(im, "PNG"))
    assert img.getpixel((0, 0)) == (0, 0, 0)
    assert img.getpixel((1, 1)) == WHITE


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red in CMYK
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    img = decode_image(data)
    assert img.mode == "RGB"
    assert_close(img.getpixel((4, 4)), RED, 8)


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    im = Image.new("I;16", (3, 1))
    im.putdata([0, 32768, 65535])
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    img = decode_image(data)
    assert img.mode == "RGB"
    assert [img.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_other_modes_become_rgb(mode: str) -> None:
    img = decode_image(encode(Image.new(mode, (5, 3), 1), "PNG"))
    assert img.mode == "RGB" and img.size == (5, 3)


# --- load_image -----------------------------------------------------------------------------------


def test_load_image_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pic.webp"
    path.write_bytes(encode(Image.new("RGB", (9, 7), GREEN), "WEBP", lossless=True))
    img = load_image(path)
    assert img.size == (9, 7) and img.getpixel((4, 3)) == GREEN


def test_load_image_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageError, match=r"^cannot read .*nope\.png: "):
        load_image(missing)


def test_load_image_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="^cannot read "):
        load_image(tmp_path)


def test_load_image_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(noise_png())
    with pytest.raises(ImageError, match="^file too large: "):
        load_image(path, DecodeLimits(max_bytes=100))


def test_load_image_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="^empty file"):
        load_image(path)


def test_image_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_image(b"nope")


# --- pictures that cost too much to read -----------------------------------------------------------------


def _jpeg(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **params)
    return out.getvalue()


def _real(side: int) -> Image.Image:
    picture = load_image(DATASETS / "paperface-heads/pictures/236.jpg")
    return picture.resize((side, side * picture.height // picture.width))


def test_a_jpeg_of_too_many_scans_is_refused_before_decoding() -> None:
    progressive = _jpeg(_real(512), progressive=True)
    scans = progressive.count(b"\xff\xda")
    assert 5 < scans < 100 and decode_image(progressive).size[0] == 512  # a real progressive JPEG reads
    with pytest.raises(ImageError, match=f"takes too long to read: a JPEG of {scans} scans"):
        decode_image(progressive, DecodeLimits(max_scans=scans - 1))
    bomb = repeat_last_scan(_jpeg(_real(128), progressive=True), 2999)
    started = time.perf_counter()
    with pytest.raises(ImageError, match="a JPEG of 3"):
        decode_image(bomb)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_picture_is_read_at_the_longest_side_the_limits_allow_and_remembers_its_size(fmt: str) -> None:
    picture = _real(5000)  # 5000×6666: JPEGs decode at half scale, then both shrink to 2048 on the long side
    out = io.BytesIO()
    picture.save(out, fmt)
    image = decode_image(out.getvalue())
    assert image.size == (1536, 2048) and image.info[ORIGINAL_SIZE] == picture.size
    full = decode_image(out.getvalue(), DecodeLimits(max_side=None))
    assert full.size == picture.size and ORIGINAL_SIZE not in full.info
    assert ORIGINAL_SIZE not in decode_image(_jpeg(_real(1024))).info  # small ones are left alone


def test_a_turned_picture_remembers_its_size_as_it_is_shown() -> None:
    picture = _real(3000)
    exif = picture.getexif()
    exif[0x0112] = 6  # shown turned a quarter
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    image = decode_image(out.getvalue())
    assert image.info[ORIGINAL_SIZE] == picture.size[::-1] and image.width > image.height


# --- properties: whatever the bytes, a picture or an ImageError --------------------------------------------


def _outcome(data: bytes) -> str:
    try:
        image = decode_image(data, DecodeLimits(max_pixels=4_000_000))
    except ImageError:
        return "refused"
    assert image.mode == "RGB" and image.width > 0 and image.height > 0
    return "decoded"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_are_a_picture_or_an_image_error(data: bytes) -> None:
    _outcome(data)


def _real_files() -> dict[str, bytes]:
    crop = load_image(DATASETS / "animeface-10/000_hatsune_miku/face_128_326_108.png")
    files = {}
    for fmt, params in (("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("BMP", {})):
        out = io.BytesIO()
        crop.save(out, fmt, **params)
        files[fmt] = out.getvalue()
    return files


REAL_FILES = _real_files()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(REAL_FILES)),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=12),
    st.floats(0.05, 1),
)
def test_mangled_real_pictures_are_a_picture_or_an_image_error(fmt: str, flips: list, keep: float) -> None:
    data = bytearray(REAL_FILES[fmt])
    for where, value in flips:  # header bytes, palette, pixel data alike
        data[int(where * len(data))] = value
    _outcome(bytes(data[: max(1, int(len(data) * keep))]))
