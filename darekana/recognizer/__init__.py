"""darekana's recognizer: picture bytes in, named anime faces out, on numpy, Pillow and ONNX Runtime (never
torch). See :class:`~darekana.recognizer.engine.Recognizer`.

The names below load on first use, so that a process that only decodes pictures
(:mod:`darekana.recognizer.sandbox`) never loads numpy or ONNX Runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bundle import BundleError
    from .engine import Recognizer
    from .images import DecodeLimits, ImageError
    from .results import Candidate, Decision, Face, Model, Recognition, Verdict

_WHERE = {
    "BundleError": "bundle",
    **dict.fromkeys(("Candidate", "Decision", "Face", "Model", "Recognition", "Verdict"), "results"),
    "Recognizer": "engine",
    "DecodeLimits": "images",
    "ImageError": "images",
}
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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
