"""The detectors a bundle can name (``darekana.recognizer.detect.DetectorSpec``), and :func:`open_detector`.

``FaceBoxesDetector`` runs the bundle's ``detector.onnx`` (FaceBoxes, exported by ``darekana.train.faceboxes``) on
ONNX Runtime: one session, any number of threads at once, no lock. ``AnimefaceDetector`` wraps nagadomi's
animeface-2009, whose C extension keeps global state and so runs one picture at a time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .boxes import FACEBOXES_PRIORS, decode, priors
from .detect import ANIMEFACE, FACEBOXES, Detector, DetectorSpec
from .errors import BundleError
from .onnx import open_session

# The network's input: BGR 0-255 less the mean its training used.
BGR_MEAN = (104.0, 117.0, 123.0)
_PAD_TO = min(FACEBOXES_PRIORS.steps)  # the network's input stride; coarser layers round their cells up
_MOST_CANDIDATES = 1000  # best-scoring priors kept for NMS: a picture holds far fewer heads


class FaceBoxesDetector(Detector):
    def __init__(self, spec: DetectorSpec, model: str | Path, threads: int | None = None):
        super().__init__(spec)
        self.model = Path(model)
        self._session = open_session(model, threads)
        self._check()

    def _check(self) -> None:
        """Refuse a model that is not a FaceBoxes detector now, not on the first picture."""
        expected = len(priors(FACEBOXES_PRIORS, _PAD_TO, _PAD_TO))
        try:
            loc, score = self._session.run(["loc", "score"], {"image": np.zeros((1, 3, _PAD_TO, _PAD_TO), np.float32)})
        except Exception as exc:
            raise BundleError(f"{self.model} is not a FaceBoxes detector: {exc}") from None
        if loc.shape != (1, expected, 4) or score.shape != (1, expected):
            raise BundleError(
                f"{self.model} is not a FaceBoxes detector: outputs {loc.shape} and {score.shape} for {expected} priors"
            )

    def detect_at(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        loc, score = self._session.run(["loc", "score"], {"image": network_input(image)})
        loc, score = loc[0], score[0]
        keep = np.flatnonzero(score >= self.spec.score)
        keep = keep[np.argsort(-score[keep])[:_MOST_CANDIDATES]]
        height, width = _padded(image.height), _padded(image.width)
        boxes = decode(loc[keep], priors(FACEBOXES_PRIORS, height, width)[keep], FACEBOXES_PRIORS.variance)
        return boxes, score[keep]


def network_input(image: Image.Image) -> np.ndarray:
    """FaceBoxes' input for ``image`` (RGB): (1, 3, H, W) float32, BGR less the mean, padded at the right and
    bottom with zeros (the mean colour) to multiples of 32."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    out = np.zeros((1, 3, _padded(rgb.height), _padded(rgb.width)), np.float32)
    # Plane by plane from Pillow's own channel split: ~10x faster than flipping and transposing in numpy.
    for plane, (channel, mean) in enumerate(zip(reversed(rgb.split()), BGR_MEAN)):
        np.subtract(np.asarray(channel), np.float32(mean), out=out[0, plane, : rgb.height, : rgb.width])
    return out


def _padded(side: int) -> int:
    return -(-side // _PAD_TO) * _PAD_TO


class AnimefaceDetector(Detector):
    # animeface's C extension keeps global state; concurrent calls from several threads are not safe.
    _LOCK = threading.Lock()

    def detect_at(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        import animeface  # only bundles that name it pay for loading it

        with self._LOCK:
            found = animeface.detect(image if image.mode in ("RGB", "L") else image.convert("RGB"))
        rows = [
            (
                f.face.pos.x,
                f.face.pos.y,
                f.face.pos.x + f.face.pos.width,
                f.face.pos.y + f.face.pos.height,
                f.likelihood,
            )
            for f in found
            if f.likelihood >= self.spec.score
        ]
        table = np.array(rows, np.float64).reshape(-1, 5)
        return table[:, :4], table[:, 4]


def open_detector(spec: DetectorSpec, directory: str | Path | None = None, threads: int | None = None) -> Detector:
    """The detector ``spec`` names; its model file is looked up in ``directory`` (the bundle)."""
    if spec.kind == ANIMEFACE:
        return AnimefaceDetector(spec)
    if spec.kind == FACEBOXES:
        if not spec.file or directory is None:
            raise BundleError(f"the FaceBoxes detector needs its model file ({spec.file}) and a bundle to find it in")
        model = Path(directory) / spec.file
        if not model.is_file():
            raise BundleError(f"{directory} is not a complete model bundle: its detector {spec.file} is missing")
        return FaceBoxesDetector(spec, model, threads)
    raise BundleError(f"unknown detector {spec.kind!r} (this darekana knows {FACEBOXES} and {ANIMEFACE})")
