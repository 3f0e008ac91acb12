"""The model card's figures from the benchmarks' own JSON lines, so that the card quotes what they printed.

    python -m bench.card --accuracy ACCURACY.json --enroll TWIN.json [TWIN.json ...] --out DIR

``ACCURACY.json`` is ``bench/accuracy.py``'s line for the shipped network; each ``TWIN.json`` is ``bench/enroll.py``'s
line for one of its held-out twins (the same recipe, one draw of characters held out, one training seed each).
Writes ``DIR/bundles.json`` and, per draw of held-out characters (``bench/enroll.py --seed``),
``DIR/never-saw-SEED.json``, for ``darekana train card NETWORK.onnx --figures "Bundles built on it"
DIR/bundles.json --figures "Characters it never saw" DIR/never-saw-0.json ...``. Where a draw has several twins,
each figure reads "seed 0 / seed 1 / …" (training seeds): a figure that holds on one draw of characters may not
on another, and one on one seed may be luck.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

FLOAT32 = "float32"  # what bundles served before int8 (benchmark lines made then do not say)
ACCURACY_NOTE = (
    "bench/accuracy.py --sets {sets}, {machine}, {date}; bundles serving the network in {precision}; each set's "
    "held-back test faces, of source pictures and near-duplicate groups the network never trained on"
)
ENROLL_NOTE = (
    "its held-out twins: the same recipe with the {held} characters below left out of training, training seeds "
    "{seeds} (this network trained on them, so it cannot be measured on them): bench/enroll.py --seed {draw} "
    "--network (the twin) --unknown {unknown}, {machine}, {date}: the {held} held-out characters against a frozen "
    "bundle ({precision}) of the other {known_bundle} characters of {datasets}"
)
# What the card calls each unknown source of bench/enroll.py
STRANGERS = {
    "paperface-heads:held": "paperface-heads' held-back heads",
    "paperface-heads": "paperface-heads' heads",
    "hololive-20": "hololive-20's faces",
}


def interval(promise: dict[str, Any], counted: bool = False) -> str:
    low, high = promise["interval"]
    n = f", n {promise['n']}" if counted else ""
    return f"{promise['delivered']:.4f} ({low}–{high}{n})"


def set_card(figures: dict[str, Any]) -> dict[str, Any]:
    promises = figures["promises"]
    by_dataset = figures.get("top1_by_dataset", {})  # lines printed before it was counted lack it
    return {
        "characters": figures["characters"],
        "test faces": figures["test_n"],
        "top-1": figures["top1"],
        **({"… per dataset": joined([f"{d} {v}" for d, v in by_dataset.items()])} if len(by_dataset) > 1 else {}),
        "top-5": figures["top5"],
        "known faces called unknown": interval(promises["false_rejection"]),
        "… averaged over characters": figures["known_false_rejection_per_character"],
        "confident answers right": interval(promises["confident_precision"], counted=True),
        f"{figures['unknown_source']} called unknown": figures["unknown_rejection_rate"],
    }


def bundles(accuracy: dict[str, Any]) -> dict[str, Any]:
    sets = [name for name, figures in accuracy.items() if isinstance(figures, dict) and "top1" in figures]
    card: dict[str, Any] = {name: set_card(accuracy[name]) for name in sets}
    card["note"] = ACCURACY_NOTE.format(
        sets=" ".join(sets),
        machine=accuracy["machine"],
        date=accuracy["date"],
        precision=serving(accuracy),
    )
    return card


def serving(figures: dict[str, Any]) -> str:
    """How the bundles of a benchmark line served the network (lines made before a choice was offered do not say)."""
    precision = figures.get("precision", FLOAT32)
    return f"{precision}, each face read with its mirror image" if figures.get("mirror") else precision


def joined(values: list[Any]) -> str:
    return " / ".join(str(v) for v in values)


def distinct(values: list[Any]) -> list[Any]:
    """``values`` without repeats, in order: twins measured on one machine name it once."""
    return list(dict.fromkeys(values))


def shots_card(twins: list[dict[str, Any]], key: str, stranger: str) -> dict[str, str]:
    figures = [twin[key] for twin in twins]
    return {
        "top-1 on other pictures": joined([f["new_top1"] for f in figures]),
        "called unknown": joined([f["new_called_unknown"] for f in figures]),
        "confident": joined([f["new_confident"] for f in figures]),
        "confident right": joined([f["new_confident_right"] for f in figures]),
        "known top-1 after": joined([f["known_test_top1"] for f in figures]),
        f"{STRANGERS.get(stranger, stranger)} taken for one of them": joined(
            [f[f"{stranger}_taken_for_new"] for f in figures]
        ),
    }


def never_saw(twins: list[dict[str, Any]]) -> dict[str, Any]:
    first = twins[0]
    unknown = first["before_enrolling"].keys() - {"held_out"}
    held_back = sorted(u for u in unknown if u.endswith(":held"))  # new to the twins' outlier tuning too
    stranger = (held_back or sorted(unknown))[0]
    name = STRANGERS.get(stranger, stranger)
    before = [twin["before_enrolling"] for twin in twins]
    card: dict[str, Any] = {
        "note": ENROLL_NOTE.format(
            held=len(first["held_out"]),
            seeds=joined([twin["network"]["seed"] for twin in twins]),
            draw=first["seed"],
            unknown=" ".join(sorted(unknown)),
            machine=joined(distinct([twin["machine"] for twin in twins])),
            date=joined(distinct([twin["date"] for twin in twins])),
            known_bundle=first["training"]["characters"],
            datasets=" and ".join(first["known"]),
            precision=joined([serving(twin["training"]) for twin in twins]),
        ),
        "held out": ", ".join(first["held_out"]),
        "known test top-1": joined([round(twin["training"]["test_top1"], 4) for twin in twins]),
        "known test faces called unknown": joined([twin["known_test_false_rejection"] for twin in twins]),
        "held-out characters rejected before enrolling, at 5 % known rejected": joined(
            [b["held_out"]["rejected_at_5pct_test"] for b in before]
        ),
        "held-out AUROC": joined([b["held_out"]["auroc"] for b in before]),
        f"{name} rejected at 5 % known rejected": joined([b[stranger]["rejected_at_5pct_test"] for b in before]),
        f"{name} AUROC": joined([b[stranger]["auroc"] for b in before]),
    }
    shots = [key for key in first if key.endswith("_crops")]
    for key in shots:
        card[f"enrolled from {key.replace('_', ' ')}"] = shots_card(twins, key, stranger)
    return card


def draws(twins: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The twins by draw of held-out characters (``bench/enroll.py --seed``), each draw's by training seed."""
    by_draw: dict[int, list[dict[str, Any]]] = {}
    for twin in sorted(twins, key=lambda t: (t["seed"], t["network"]["seed"])):
        by_draw.setdefault(twin["seed"], []).append(twin)
    return by_draw


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accuracy", type=Path, required=True, help="bench/accuracy.py's JSON line, in a file")
    p.add_argument("--enroll", type=Path, nargs="+", required=True, help="bench/enroll.py's JSON line per twin")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    by_draw = draws([json.loads(f.read_text()) for f in args.enroll])
    args.out.mkdir(parents=True, exist_ok=True)
    cards = {"bundles.json": bundles(json.loads(args.accuracy.read_text()))}
    cards |= {f"never-saw-{draw}.json": never_saw(twins) for draw, twins in by_draw.items()}
    for name, card in cards.items():
        (args.out / name).write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(args.out / name)


if __name__ == "__main__":
    main()
