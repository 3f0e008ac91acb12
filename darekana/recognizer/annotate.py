"""Drawing numbered boxes and names on a picture, for people who would rather see than read."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .results import Recognition, Verdict

COLOURS = {Verdict.CONFIDENT: (46, 160, 67), Verdict.UNSURE: (219, 154, 4), Verdict.UNKNOWN: (207, 34, 46)}


def annotate(image: Image.Image, result: Recognition) -> Image.Image:
    """A copy of ``image`` with each face's box, its number (reading order) and its name or "?"."""
    canvas = image.copy() if image.mode == "RGB" else image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    font = ImageFont.load_default(size=max(12, round(max(canvas.size) / 40)))
    # result boxes are in the picture's pixels; ``image`` may be a smaller decode of it
    sx, sy = canvas.width / result.width, canvas.height / result.height
    for number, face in enumerate(result.faces, start=1):
        colour = COLOURS[face.verdict]
        b = face.box.scaled(sx, sy)
        draw.rectangle((b.x, b.y, b.x + b.w, b.y + b.h), outline=colour, width=line)
        text = {
            Verdict.CONFIDENT: f"{number}. {face.name} {face.confidence:.0%}",
            Verdict.UNSURE: f"{number}. {face.name}? {face.confidence:.0%}",
            Verdict.UNKNOWN: f"{number}. ?",
        }[face.verdict]
        left, top, right, bottom = draw.textbbox((b.x, b.y), text, font=font)
        y = b.y - (bottom - top) - 2 * line if b.y - (bottom - top) - 2 * line >= 0 else b.y + b.h
        draw.rectangle((b.x, y, b.x + (right - left) + 2 * line, y + (bottom - top) + 2 * line), fill=colour)
        draw.text((b.x + line, y + line - (top - b.y)), text, fill="white", font=font)
    return canvas
