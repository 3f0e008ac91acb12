"""Plain-text lines for a recognition: what the CLI prints and the bot's replies build on."""

from __future__ import annotations

from .results import Face, Recognition, Verdict


def percent(p: float) -> str:
    return f"{p * 100:.0f}%"


def describe_face(face: Face, runner_ups: int = 2) -> str:
    """``Hatsune Miku (97%)``, ``not sure: maybe A (41%) or B (22%)`` or ``I don't know this character``;
    `` (unclear face)`` follows when the detector was not sure it found a face."""
    return _verdict_text(face, runner_ups) + ("" if face.sure else " (unclear face)")


def _verdict_text(face: Face, runner_ups: int) -> str:
    if face.verdict is Verdict.UNKNOWN:
        return "I don't know this character"
    guesses = face.candidates[: runner_ups + 1]
    if face.verdict is Verdict.UNSURE:
        return "not sure: maybe " + " or ".join(f"{c.name} ({percent(c.probability)})" for c in guesses[:2])
    text = f"{face.name} ({percent(face.confidence)})"
    others = [f"{c.name} {percent(c.probability)}" for c in guesses[1:] if c.probability >= 0.01]
    return text + (f"; then {', '.join(others)}" if others else "")


def describe(result: Recognition) -> list[str]:
    """One line per face in reading order, or the no-face message."""
    if not result.faces:
        return ["no anime face found — try cropping to the face"]
    lines = []
    if result.faces_detected == 0:
        lines.append("no anime face found — guessing from the whole picture:")
    for number, face in enumerate(result.faces, start=1):
        lines.append(f"{number}. {describe_face(face)}")
    return lines
