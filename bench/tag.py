"""Tagging benchmark: pictures a second through ``darekana tag``'s pipeline at 1 and 2 workers and on a local
Ray cluster, and the scaling from 1 to 2 workers.

    python -m bench.tag [--bundle models/115] [--repeats 3] [--passes 3] [--out runs/bench/tag]

The collection (made once under OUT/pictures): paperface-heads' 284 illustrations at 1024 px on their longest
side, and 116 group pictures of 1024 × 682 px with two or three face crops of the three face sets, all JPEG:
400 pictures of about 1.7 faces, each run tagging them ``--passes`` times over (1,200 pictures): over one pass,
Ray's own processes are still starting while the actors work (measured: Ray at 0.77 of the local rate over
400 pictures, 0.89 over 1,200). Each run writes a tag file as ``darekana tag`` does (journal included).
``pictures_per_s`` counts from the first chunk back to the last, so it is the rate a long run settles to;
``wall_s`` includes starting the workers (the pool, or Ray and its actors) and loading the bundle.
Prints one JSON line with each setting's median over the repeats.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import machine
from darekana.tag.config import TagConfig
from darekana.tag.run import tag_chunks
from darekana.tag.sources import gather
from darekana.tag.tagfile import TagFile
from darekana.train.shared import DATASETS

SIDE = 1024
GROUPS = 116


def collection(folder: Path) -> Path:
    if folder.is_dir() and len(list(folder.iterdir())) == 284 + GROUPS:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((DATASETS / "paperface-heads" / "pictures").glob("*.jpg")):
        with Image.open(path) as im:
            scale = SIDE / max(im.size)
            im.convert("RGB").resize((round(im.width * scale), round(im.height * scale))).save(
                folder / path.name, quality=90
            )
    crops = sorted(p for s in ("animeface-10", "moeimouto-85", "hololive-20") for p in (DATASETS / s).glob("*/*.*"))
    rng = random.Random(0)
    for index in range(GROUPS):
        picked = rng.sample(crops, 2 + index % 2)
        canvas = Image.new("RGB", (SIDE, SIDE * 2 // 3), (250, 250, 245))
        cell = SIDE // len(picked)
        for i, path in enumerate(picked):
            with Image.open(path) as crop:
                face = crop.convert("RGB").resize((int(cell * 0.8), int(cell * 0.8 * crop.height / crop.width)))
            canvas.paste(face, (i * cell + cell // 10, SIDE // 8))
        canvas.save(folder / f"group-{index:03d}.jpg", quality=90)
    return folder


def timed_run(pictures: list, bundle: Path, config: TagConfig, ray: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tagfile = TagFile(Path(tmp) / "tags.jsonl")
        start = time.perf_counter()
        first = None
        done = faces = 0
        for chunk in tag_chunks(pictures, bundle, config, ray):
            tagfile.add(chunk)
            if first is None:
                first, skipped = time.perf_counter(), len(chunk)
            done += len(chunk)
            faces += sum(len(o.tagged.faces) for o in chunk if o.tagged)
        end = time.perf_counter()
        tagfile.save()
        tagfile.close()
    assert done == len(pictures) and first is not None
    return {"pictures_per_s": (done - skipped) / (end - first), "wall_s": end - start, "faces": faces}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="models/115")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--passes", type=int, default=3, help="times over the collection in each run")
    p.add_argument("--out", default="runs/bench/tag")
    p.add_argument("--no-ray", action="store_true", help="skip the Ray setting (Ray not installed)")
    args = p.parse_args()
    bundle = Path(args.bundle).resolve()
    pictures = gather([str(collection(Path(args.out) / "pictures"))]).pictures * args.passes
    settings: dict[str, tuple[int, str | None]] = {"1 worker": (1, None), "2 workers": (2, None)}
    if not args.no_ray:
        settings["ray local, 2 actors"] = (2, "local")
    figures: dict[str, object] = {
        "benchmark": "tag",
        "machine": machine(),
        "bundle": bundle.name,
        "pictures": len(pictures),
        "passes": args.passes,
        "picture_side": SIDE,
        "repeats": args.repeats,
    }
    for name, (workers, ray) in settings.items():
        runs = [timed_run(pictures, bundle, TagConfig(workers=workers), ray) for _ in range(args.repeats)]
        figures[name] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        print(name, figures[name], file=sys.stderr)
    rate = {name: figures[name]["pictures_per_s"] for name in settings}  # type: ignore[index]
    figures["scaling_1_to_2"] = round(rate["2 workers"] / rate["1 worker"], 2)
    if not args.no_ray:
        figures["ray_vs_local"] = round(rate["ray local, 2 actors"] / rate["2 workers"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":  # and not on import: the workers start by importing this module
    main()
