"""Framing benchmark: which crop margin around a detected face gives the best accuracy?

    python -m bench.framing BUNDLE [BUNDLE...]

For each bundle's held-back test faces (its split.json), the face is detected again with the bundle's own
detector, re-cropped with margins from 1.0 to 3.0 detector boxes (keeping the vertical placement the bundle
measured), and classified.
The crops are already cut from larger pictures, so margins wider than a crop are clipped to the crop: such
rows mean "the whole crop". Prints one JSON line: top-1 per margin, the measured framing and its top-1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import machine
from darekana.recognizer import Recognizer
from darekana.recognizer.detect import Framing, crop_face
from darekana.recognizer.images import load_image
from darekana.recognizer.layout import SPLIT_FILE

SCALES = (1.0, 1.2, 1.4, 1.8, 2.2, 2.6, 3.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundles", nargs="+")
    args = p.parse_args()
    figures: dict[str, object] = {"benchmark": "framing", "machine": machine()}
    for bundle in args.bundles:
        recognizer = Recognizer(bundle)
        measured = recognizer.manifest.framing
        test = [Path(p) for p in json.loads((Path(bundle) / SPLIT_FILE).read_text())["test"]]
        faces = []
        for path in test:
            image = load_image(path)
            found = recognizer.detector.detect(image)
            if len(found) == 1:
                faces.append((image, found[0].box, path.parent.name))
        framings = {f"{s:.1f}": Framing(s, s * measured.top / measured.scale) for s in SCALES}
        framings["measured"] = measured
        framings["centred_at_measured_scale"] = Framing(measured.scale, measured.scale / 2)
        row = {}
        for name, framing in framings.items():
            decisions = recognizer.classify([crop_face(image, box, framing) for image, box, _ in faces])
            row[name] = round(sum(d.label == truth for d, (_, _, truth) in zip(decisions, faces)) / len(faces), 4)
        whole = recognizer.classify([image for image, _, _ in faces])
        row["whole_crop_as_given"] = round(sum(d.label == t for d, (_, _, t) in zip(whole, faces)) / len(faces), 4)
        figures[bundle] = {
            "faces_detected": len(faces),
            "test_n": len(test),
            "measured": {"scale": measured.scale, "top": measured.top},
            "top1": row,
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
