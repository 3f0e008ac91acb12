"""darekana's recognizer: picture bytes in, named anime faces out, on numpy, Pillow and ONNX Runtime (never
torch). See :class:`~darekana.recognizer.engine.Recognizer`."""

from .bundle import BundleError
from .engine import Candidate, Decision, Face, Model, Recognition, Recognizer, Verdict
from .images import DecodeLimits, ImageError

__all__ = [
    "BundleError",
    "Candidate",
    "Decision",
    "DecodeLimits",
    "Face",
    "ImageError",
    "Model",
    "Recognition",
    "Recognizer",
    "Verdict",
]
