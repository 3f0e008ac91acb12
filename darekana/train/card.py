"""The model card of a base network: what it is, what it saw, how it was trained, and how it did on faces
and characters it never saw. Written from the network's record (``FILE.json``) alone, so the card and the
record cannot disagree; ``darekana train card FILE.onnx --figures NAME FILE.json`` adds a benchmark's JSON
line to the record's ``evaluation`` and writes the card again (``FILE.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .network import load_network, record_path

CARD_SUFFIX = ".md"


def card_path(network: str | Path) -> Path:
    return Path(network).with_suffix(CARD_SUFFIX)


def add_figures(network: Path, name: str, figures: dict[str, Any]) -> None:
    """Puts ``figures`` into the record's ``evaluation`` under ``name`` (``write_card`` shows them)."""
    base = load_network(network)  # checks the record belongs to the network
    record = dict(base.record)
    record["evaluation"] = {**record.get("evaluation", {}), name: figures}
    record_path(network).write_text(json.dumps(record, indent=1), encoding="utf-8")


def write_card(network: Path) -> Path:
    path = card_path(network)
    path.write_text(render(load_network(network).record), encoding="utf-8")
    return path


def render(record: dict[str, Any]) -> str:
    recipe, tune = record["recipe"], record["recipe"]["finetune"]
    history = record["history"]
    faces = record["faces"]
    lines = [
        f"# {record['network']}: the anime embedding network darekana's bundles are built on",
        "",
        f"- **sha256** `{record['sha256']}`",
        f"- **Network**: {record['architecture']}, {record['embedding_dim']}-dimensional pooled embedding "
        f"(output `embedding`), input `image` (N, 3, {record['input_size']}, {record['input_size']}) RGB, "
        f"normalised with mean {record['mean']} and std {record['std']}; started from `{record['pretrained']}`.",
        f"- **Data**: {', '.join(record['data'])}: {len(record['characters'])} characters trained on"
        + (f", {len(record['held_out'])} held out ({', '.join(record['held_out'])})" if record["held_out"] else "")
        + f". Faces split by source picture and near-duplicate group: {_parts(faces)}; it trained on "
        f"{faces['trained_on']} faces, listed by sha256 in the record's `trained_on`.",
        f"- **Recipe**: {tune['epochs']} epochs at {recipe['img_size']} px, batch {tune['batch_size']}, "
        f"AdamW lr {tune['lr']} (one-cycle), weight decay {tune['weight_decay']}, label smoothing "
        f"{tune['label_smoothing']}, {_head(tune)}, random resized crop ≥ {tune['min_area']:.0%} "
        f"of the area, flips, brightness and contrast{_erasing(tune)} (no hue change: hair and eye colour name "
        "characters); "
        f"{'stem frozen' if tune['freeze_stem'] else 'every layer trained'}{_triplet(tune)}{_exposure(record)}"
        f"{_slimmed(record)}; "
        f"the last epoch{_averaged(tune)} is kept.",
        *_lineage(record.get("started_from")),
        f"- **Training**: {record['training_seconds'] / 3600:.2f} h on {record['machine']} ({record['device']}); "
        f"last epoch's loss {history[-1]['loss']:.3f}, validation top-1 {history[-1]['val_accuracy']:.4f} "
        "(logged only: the recipe is judged on characters it never saw).",
        "",
    ]
    for name, figures in record.get("evaluation", {}).items():
        lines += [f"## {name}", "", "| figure | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in _flatten(figures)]
        lines.append("")
    return "\n".join(lines)


def _lineage(parent: dict[str, Any] | None) -> list[str]:
    """One line per earlier run the network started from, the nearest first."""
    lines = []
    while parent:
        tune, last = parent["recipe"]["finetune"], parent.get("last_epoch") or {}
        lines.append(
            f"- **Started from** `{parent['network']}` (sha256 `{parent['sha256'][:12]}`): {tune['epochs']} epochs "
            f"at {parent['input_size']} px from `{parent['pretrained']}`, lr {tune['lr']}, "
            f"{parent['training_seconds'] / 3600:.2f} h on {parent['machine']}"
            + (f"; its last epoch's validation top-1 {last['val_accuracy']:.4f}" if "val_accuracy" in last else "")
            + ". Its training faces count as this network's."
        )
        parent = parent.get("started_from")
    return lines


def _head(tune: dict[str, Any]) -> str:
    kind = tune["head"]["kind"]
    if kind != "bnneck":
        return f"{kind} head"
    return (
        "a BNNeck head (the softmax reads the pooled embedding through a BatchNorm without shift; the triplet "
        "loss and the exported embedding read it as it is)"
    )


def _erasing(tune: dict[str, Any]) -> str:
    share = tune.get("erase", 0.0)  # records made before random erasing existed lack it
    return f", random erasing of {share:.0%} of the faces" if share else ""


def _averaged(tune: dict[str, Any]) -> str:
    decay = tune.get("ema", 0.0)  # records made before weight averaging existed lack it
    return f"'s moving average of the weights (decay {decay} per step)" if decay else ""


def _triplet(tune: dict[str, Any]) -> str:
    weight = tune.get("triplet_weight", 0.0)  # records made before the triplet loss existed lack it
    if not weight:
        return ""
    return (
        f"; a batch-hard triplet loss on the unit embedding beside the classification loss, weight {weight}, "
        f"margin {tune['triplet_margin']}, batches of {tune['faces_per_character']} faces per character"
        + _batches(tune)
    )


def _batches(tune: dict[str, Any]) -> str:
    # records made before look-alike or balanced batches existed lack these
    group, balance = tune.get("look_alikes", 0), tune.get("balance", 0.0)
    grouped = f", in groups of {group} characters with the nearest classifier weights" if group else ""
    balanced = f", a character with n faces given n^{1 - balance:g} of each epoch" if balance else ""
    return grouped + balanced


def _exposure(record: dict[str, Any]) -> str:
    outliers = record["faces"].get("outliers")
    if not outliers:
        return ""
    folders = ", ".join(Path(f).name for f in record["recipe"]["outliers"])
    weight = record["recipe"]["finetune"]["outlier_weight"]
    return (
        f"; outlier exposure: {outliers} faces of no known character ({folders}) taught a uniform answer, "
        f"weight {weight}"
    )


def _slimmed(record: dict[str, Any]) -> str:
    keep = record["recipe"].get("slim", 1.0)
    if keep >= 1:
        return ""
    tune = record["recipe"]["finetune"]
    return (
        f"; slimmed to {keep} of the hidden channels of the network it started from ({sum(record['hidden'])} "
        f"channels), taught that network's embedding, weight {tune['distil_weight']}"
        + (", on half of each batch blended pairwise" if tune.get("distil_mix") else "")
    )


def _parts(faces: dict[str, int]) -> str:
    return ", ".join(f"{faces[p]} {p}" for p in ("train", "val", "calibration", "test"))


def _flatten(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name} / ")
        elif isinstance(value, list):
            rows.append((name, ", ".join(map(str, value))))
        else:
            rows.append((name, str(value)))
    return rows
