"""Fuzz benchmark: mangled real pictures through the decoder the bot uses, counting what comes out.

    python -m bench.fuzz [--cases 10000] [--seed 0]

Starts from real files of ../shared/datasets (animeface-10 crops and paperface-heads pictures, re-encoded as
JPEG, progressive JPEG, PNG, GIF, WebP and BMP) and mutates them: bit flips, byte overwrites, truncation,
header fields (declared width and height) set to huge values, and scan bombs (a progressive JPEG's last
scan repeated hundreds of times). Every case must end as a decoded RGB picture or an ImageError; anything
else is counted as a crash. Prints one JSON line: outcome counts per mutation, the slowest case and its
seconds, the median, peak RSS MiB, and the machine.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import random
import resource
import statistics
import time

from bench.common import machine
from darekana.recognizer.images import ImageError, decode_image, load_image
from darekana.train.shared import DATASETS

Format = tuple[str, dict[str, object]]  # PIL's format name and its save() options
FORMATS: tuple[Format, ...] = (
    ("JPEG", {}),
    ("JPEG", {"progressive": True}),
    ("PNG", {}),
    ("GIF", {}),
    ("WEBP", {}),
    ("BMP", {}),
)


def seeds() -> list[tuple[str, bytes]]:
    crops = sorted((DATASETS / "animeface-10").glob("*/face_*.png"))[:6]
    pictures = sorted((DATASETS / "paperface-heads" / "pictures").glob("*.jpg"))[:3]
    out = []
    for path in crops + pictures:
        image = load_image(path)
        image.thumbnail((640, 640))
        for fmt, params in FORMATS:
            buffer = io.BytesIO()
            image.save(buffer, fmt, **params)
            out.append((f"{fmt}{'-progressive' if params else ''}", buffer.getvalue()))
    return out


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    buf = bytearray(data)
    if kind == "bit flips":
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "byte overwrites":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == "truncation":
        del buf[rng.randint(1, len(buf) - 1) :]
    elif kind == "header fields":  # a declared width/height (or any 2-4 bytes near the start) made huge
        at = rng.randrange(min(64, len(buf) - 4))
        buf[at : at + rng.choice((2, 4))] = b"\xff" * 2 if rng.random() < 0.5 else b"\x7f\xff\xff\xff"
    elif kind == "scan bombs":
        last = data.rindex(b"\xff\xda") if b"\xff\xda" in data else len(data) - 2
        buf = bytearray(data[:last] + data[last:-2] * rng.randint(50, 400) + b"\xff\xd9")
    return bytes(buf)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    originals = seeds()
    kinds = ("bit flips", "byte overwrites", "truncation", "header fields", "scan bombs")
    outcomes: dict[str, collections.Counter] = {kind: collections.Counter() for kind in kinds}
    seconds, slowest = [], (0.0, "")
    for case in range(args.cases):
        name, data = originals[rng.randrange(len(originals))]
        kind = kinds[case % len(kinds)]
        if kind == "scan bombs" and name != "JPEG-progressive":
            name, data = next(o for o in originals if o[0] == "JPEG-progressive")
        mangled = mutate(data, kind, rng)
        started = time.perf_counter()
        try:
            image = decode_image(mangled)
            outcomes[kind]["decoded" if image.mode == "RGB" else "crash: not RGB"] += 1
        except ImageError:
            outcomes[kind]["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
            outcomes[kind][f"crash: {type(exc).__name__}"] += 1
        spent = time.perf_counter() - started
        seconds.append(spent)
        slowest = max(slowest, (spent, f"{kind} of {name} ({len(mangled)} bytes)"))
    print(
        json.dumps(
            {
                "benchmark": "fuzz",
                "machine": machine(),
                "cases": args.cases,
                "outcomes": {kind: dict(counter) for kind, counter in outcomes.items()},
                "crashes": sum(n for c in outcomes.values() for k, n in c.items() if k.startswith("crash")),
                "median_ms": round(statistics.median(seconds) * 1000, 2),
                "slowest": {"seconds": round(slowest[0], 3), "case": slowest[1]},
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
