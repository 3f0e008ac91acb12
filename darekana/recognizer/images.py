"""Safe decoding of untrusted image bytes (uploads, attachments, URLs) into plain RGB pictures.

Everything the recognizer is shown passes through :func:`decode_image` or :func:`load_image`. They accept
only JPEG, PNG, WebP, GIF and BMP, refuse oversized files and decompression bombs *before* decoding any
pixels, refuse truncated or corrupt data instead of returning a half-grey picture, take the first frame of
an animation, apply the EXIF orientation and flatten transparency onto white. Whatever goes wrong, the
caller gets one exception type, :class:`ImageError`, whose message can be shown to the person who sent
the file::

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGBA", (32, 16), (255, 0, 0, 0)).save(buf, "PNG")
    >>> img = decode_image(buf.getvalue())
    >>> img.mode, img.size, img.getpixel((0, 0))
    ('RGB', (32, 16), (255, 255, 255))
    >>> decode_image(b"hello, world")
    Traceback (most recent call last):
        ...
    darekana.recognizer.images.ImageError: not an image (expected JPEG, PNG, WebP, GIF or BMP)

Pillow's process-wide settings (``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``) are
never changed: the limits here are checked by this module itself, per call.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps

__all__ = ["ALLOWED_FORMATS", "PICTURE_SUFFIXES", "DecodeLimits", "ImageError", "TooSlow", "decode_image", "load_image"]

# Pillow format names. Only these plugins are ever handed untrusted bytes: the other ~40 (TIFF, PSD,
# EPS via Ghostscript, ...) are a much larger attack surface and nothing a person sends a chat bot.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# File names of those formats: what training, tagging and the benchmarks collect from folders.
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".bmp"})

_NOT_AN_IMAGE = "not an image (expected JPEG, PNG, WebP, GIF or BMP)"
_WHITE = (255, 255, 255)
_MB = 1024 * 1024
_ORIENTATION_METADATA = ("exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp")

# Signatures of formats people do send but that are refused, so the message can name them instead of
# claiming the file is not a picture at all.
_UNSUPPORTED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"icns", "ICNS"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
)
_ISOBMFF_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF"}
# BITMAPINFOHEADER sizes that real BMP files use; "BM" alone is too weak a signature (any text file
# starting with "BM..." would otherwise be reported as a corrupt bitmap).
_BMP_DIB_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


class ImageError(ValueError):
    """Raised for any input that is not a usable picture; str(e) is a message a person understands."""


class TooSlow(ImageError):
    """The picture took longer than its time budget to read or to recognise."""

    def __init__(self) -> None:
        super().__init__("this picture takes too long to read")


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds for one decode; the defaults suit chat attachments."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000  # 40 MP
    # Each scan of a JPEG is a pass over the whole picture: progressive JPEGs have about 10, and thousands
    # make one picture take many seconds to decode.
    max_scans: int = 100
    # Pictures larger than this (longest side) are read at this size: JPEGs decode straight to the smallest
    # 1/2, 1/4 or 1/8 scale that keeps it (far faster and lighter than decoding 40 MP), and whatever is still
    # larger is shrunk to it. It is more than the detector looks at (its ``max_side``, twice that in
    # multi-scale). The picture's own size is kept in ``info[ORIGINAL_SIZE]``. None: full size.
    max_side: int | None = 2048


ORIGINAL_SIZE = "darekana.original_size"  # the picture's own size, when it was read at a smaller one


def decode_image(
    data: bytes, limits: DecodeLimits = DecodeLimits(), admit: Callable[[int], None] | None = None
) -> Image.Image:
    """Decode untrusted ``data`` into a fully loaded ``"RGB"`` image that owns its pixels.

    Raises :class:`ImageError` (never another exception type) for anything that is not a usable picture.
    ``admit``, when given, is called with the number of pixels about to be decoded once the header is read,
    before any of them is; it may wait, or raise :class:`ImageError` to refuse the picture.
    """
    _check_byte_count(len(data), limits)
    fmt = sniff_format(data)
    if fmt == "JPEG":
        _check_scans(data, limits)
    try:
        im = _open(data, fmt, limits)
        rgb = im
        try:
            original = _draft(im, limits)
            if admit is not None:
                admit(im.width * im.height)
            _load_first_frame(im, limits)
            loaded = im.size
            _apply_orientation(im)
            turned = im.size != loaded
            rgb = _to_rgb(im)
        finally:
            if rgb is not im:  # a converted copy owns its pixels; an RGB picture is kept as loaded (no copy)
                im.close()
        small = fit(rgb, limits.max_side)
        if small is not rgb:
            rgb.close()
        if small.size != original:
            small.info[ORIGINAL_SIZE] = original[::-1] if turned else original
        return small
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageError("image too large: not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - a decoder bug must still surface as "bad picture"
        raise ImageError(f"corrupt or truncated image: {_describe(exc)}") from exc


def load_image(path: str | os.PathLike[str], limits: DecodeLimits = DecodeLimits()) -> Image.Image:
    """Read the file at ``path`` (:func:`read_picture`) and :func:`decode_image` it."""
    return decode_image(read_picture(path, limits), limits)


def read_picture(path: str | os.PathLike[str], limits: DecodeLimits = DecodeLimits()) -> bytes:
    """The bytes of the file at ``path``, its size checked before reading; :class:`ImageError` otherwise."""
    try:
        # Only the upper bound: stat() reports 0 for pipes and devices, so emptiness is judged on the data.
        _check_not_too_many_bytes(os.stat(path).st_size, limits)
        with open(path, "rb") as fh:
            # Read one byte past the limit: a file that grew after stat(), or a device such as /dev/zero
            # whose stat size is 0, is then refused by decode_image instead of filling memory.
            return fh.read(limits.max_bytes + 1)
    except ImageError:
        raise
    except OSError as exc:
        raise ImageError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc


def fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` shrunk to fit ``max_side`` (a new image), or ``image`` itself when it fits already."""
    if max_side is None or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap 1: a box-filter reduce by the whole factor first (each pixel the mean of its block: no
    # aliasing), then bicubic over what is left; 4x faster on 40 MP than bicubic all the way, with a small buffer
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=1.0)


def _check_scans(data: bytes, limits: DecodeLimits) -> None:
    # Entropy-coded data escapes every 0xFF byte (0xFF00, or a restart marker), so each 0xFFDA is a
    # start-of-scan marker (or one of an embedded thumbnail, which only counts one more).
    scans = data.count(b"\xff\xda")
    if scans > limits.max_scans:
        raise ImageError(f"this picture takes too long to read: a JPEG of {scans} scans (at most {limits.max_scans})")


def _draft(im: Image.Image, limits: DecodeLimits) -> tuple[int, int]:
    """Asks the JPEG decoder for a smaller scale when the picture is larger than ``max_side``; returns the
    size before it."""
    original = im.size
    side = limits.max_side
    if im.format in ("JPEG", "MPO") and side and max(original) > side:
        long = max(original)
        im.draft("RGB", (max(1, original[0] * side // long), max(1, original[1] * side // long)))
    return original


def sniff_format(data: bytes) -> str:
    """Return the Pillow format name of ``data`` from its magic bytes, or raise :class:`ImageError`."""
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_HEADER_SIZES:
        return "BMP"
    for signature, name in _UNSUPPORTED_SIGNATURES:
        if head.startswith(signature):
            raise ImageError(f"unsupported image format: {name}")
    if head[4:8] == b"ftyp" and head[8:12] in _ISOBMFF_BRANDS:
        raise ImageError(f"unsupported image format: {_ISOBMFF_BRANDS[head[8:12]]}")
    if b"<svg" in bytes(data[:1024]).lower():
        raise ImageError("unsupported image format: SVG")
    raise ImageError(_NOT_AN_IMAGE)


def _check_byte_count(size: int, limits: DecodeLimits) -> None:
    if size == 0:
        raise ImageError("empty file: no image data")
    _check_not_too_many_bytes(size, limits)


def _check_not_too_many_bytes(size: int, limits: DecodeLimits) -> None:
    if size > limits.max_bytes:
        raise ImageError(f"file too large: {_format_bytes(size)} > {_format_bytes(limits.max_bytes)}")


def _format_bytes(n: int) -> str:
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _check_dimensions(size: tuple[int, int], limits: DecodeLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"empty image: {width}×{height} pixels")
    if width * height > limits.max_pixels:
        raise ImageError(f"image too large: {width}×{height} > {limits.max_pixels / 1e6:g} MP")


def _declared_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Width and height stored at a fixed offset of the header, for the formats that have one."""
    # Checked before Pillow sees the data: a bomb is refused even when the rest of the file is missing
    # or damaged, which is exactly what a hand-made bomb tends to look like.
    if fmt == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if fmt == "GIF" and len(data) >= 10:  # logical screen; frames can still enlarge it, checked later
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if fmt == "BMP" and len(data) >= 26:
        if int.from_bytes(data[14:18], "little") == 12:  # OS/2 core header: unsigned 16-bit
            return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return width, abs(height)  # a negative height only means rows are stored top-down
    return None


def _open(data: bytes, fmt: str, limits: DecodeLimits) -> Image.Image:
    """Parse only the header (no pixel data is decoded) and check the dimensions it declares."""
    declared = _declared_size(data, fmt)
    if declared is not None:
        _check_dimensions(declared, limits)
    try:
        # Pillow warns from MAX_IMAGE_PIXELS and raises from twice that; escalate the warning so a bomb
        # is always an error. catch_warnings is process-wide in Python 3.11, so decodes racing in threads
        # can at worst lose this filter (Pillow then only warns; our own pixel check still applies) or
        # leave it installed (Pillow stays stricter). Neither lets a bomb through.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(data, fmt, limits) from exc
    except Image.UnidentifiedImageError as exc:
        # The magic bytes matched, so the plugin rejected a damaged header (or a zero-sized image).
        raise ImageError(f"corrupt or truncated image: unreadable {_display_name(fmt)} header") from exc
    try:
        # Belt and braces: formats= already restricts this. Phone cameras write JPEGs with an MPO
        # (multi-picture) extension, which Pillow's JPEG plugin reports as "MPO"; frame 0 is the photo.
        if im.format not in ALLOWED_FORMATS and not (fmt == "JPEG" and im.format == "MPO"):
            raise ImageError(f"unsupported image format: {im.format}")
        _check_dimensions(im.size, limits)
    except BaseException:
        im.close()
        raise
    return im


def _bomb_error(data: bytes, fmt: str, limits: DecodeLimits) -> ImageError:
    """Build the "too large" message for a header Pillow refused before handing us its size."""
    return _too_large(_header_size(data, fmt), limits)


def _too_large(size: tuple[int, int] | None, limits: DecodeLimits) -> ImageError:
    """The message for an image Pillow's own decompression-bomb check refused."""
    if size is None:
        return ImageError(f"image too large: more than {limits.max_pixels / 1e6:g} MP")
    width, height = size
    limit = limits.max_pixels
    if width * height <= limit and Image.MAX_IMAGE_PIXELS is not None:
        limit = Image.MAX_IMAGE_PIXELS  # the caller allowed more than Pillow's own safety limit
    return ImageError(f"image too large: {width}×{height} > {limit / 1e6:g} MP")


def _header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    # Instantiating the plugin class runs the same header parser Image.open just ran successfully,
    # minus Image.open's bomb check, so the message can state the real dimensions.
    try:
        factory, _accept = Image.OPEN[fmt]
        with factory(io.BytesIO(data), "") as im:
            return im.size
    except Exception:  # noqa: BLE001 - only used to word a message
        return None


def _load_first_frame(im: Image.Image, limits: DecodeLimits) -> None:
    """Decode frame 0 of ``im`` into memory."""
    with warnings.catch_warnings():
        # GIF frames may enlarge the canvas, and Pillow's bomb check for that runs during seek/load.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im.seek(0)
            _check_dimensions(im.size, limits)
            # LOAD_TRUNCATED_IMAGES stays False, so missing data raises here instead of being filled grey.
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large(im.size, limits) from exc  # GIF updates size before its check
    _check_dimensions(im.size, limits)


def _apply_orientation(im: Image.Image) -> None:
    """Rotate/flip ``im`` in place as its EXIF (or XMP) orientation says."""
    # A broken EXIF block is common (editors, re-encoders) and says nothing about the pixels, so it
    # must never cost the picture: keep the stored orientation instead.
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # noqa: BLE001
        # Pillow may fail rewriting the metadata after it already rotated the pixels; drop the metadata
        # so nobody downstream applies the orientation a second time.
        for key in _ORIENTATION_METADATA:
            im.info.pop(key, None)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to ``"RGB"``, flattening transparency onto white."""
    try:
        if im.mode.startswith("I;16") or im.mode == "I":
            # PNG stores high-bit-depth grey as 0..65535; a plain convert() would clip it to white.
            im = im.convert("I").point(lambda v: v / 256).convert("L")
            # A 16-bit tRNS key cannot be mapped onto 8 bits without catching neighbouring greys too.
            im.info.pop("transparency", None)
        if im.has_transparency_data:
            rgba = im.convert("RGBA")  # also resolves palette / tRNS transparency into an alpha channel
            background = Image.new("RGB", rgba.size, _WHITE)
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return im if im.mode == "RGB" else im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"unsupported pixel format: {im.mode}") from exc


def _display_name(fmt: str) -> str:
    return "WebP" if fmt == "WEBP" else fmt


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
