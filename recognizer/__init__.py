"""darekana's recognizer: picture bytes in, named anime faces out. See ``engine.Recognizer``."""

from .bundle import BundleError
from .engine import Candidate, Decision, Face, Recognition, Recognizer
from .images import DecodeLimits, ImageError

__all__ = ["BundleError", "Candidate", "Decision", "DecodeLimits", "Face", "ImageError", "Recognition", "Recognizer"]
