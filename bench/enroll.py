"""Enrolment benchmark: characters the network never saw, first rejected as unknown, then enrolled from a
few crops each (``darekana train enroll``) and recognised on crops of other source pictures.

    python -m bench.enroll [--known animeface-10 moeimouto-85] [--hold-from moeimouto-85] [--hold 15]
                           [--unknown hololive-20] [--shots 1 5 20] [--network none|FILE.onnx]
                           [--float32] [--no-mirror] [--epochs 8] [--img-size 0]
                           [--head linear|cosface|arcface] [--enrol-as bundle|extra]
                           [--out runs/enroll-bench/NAME]

``held-out`` (the default mode): ``--hold`` characters of ``--hold-from``, drawn with ``--seed``, are left
out of training; a bundle is trained (``darekana.train.fit.fit``) on the other characters of the ``--known``
datasets, or reused from ``--out`` when one is there: fine-tuned from ImageNet (``--network none``), or on a
frozen base network (``darekana train base --hold-out``) that must have held those characters out too; its
record says which it trained on, and the benchmark refuses one that saw them. Such a network may have trained
on an ``--unknown`` set's characters (hololive-20 for the shipped one): use ``paperface-heads`` then.

Before enrolling: the share of the left-out characters' crops, and of the ``--unknown`` sources' (another
art style; ``paperface-heads`` is cut into its VOC head boxes as the bundle cuts a detected head, and
``paperface-heads:held`` is its held-back pictures' heads only), that the bundle calls unknown at its own
calibrated thresholds, and at a threshold that rejects exactly 5 % of its known test faces (target: ≥ 0.80
there). Then per number of crops: the left-out characters enrolled from that many crops each (one per source
picture, ``face_A_B`` of ``face_A_B_N``), top-1 on their crops of *other* source pictures (target at 5 crops:
≥ 0.85), how many of those are called unknown (≤ 0.10) and confident, how often the confident ones are right
(≥ 0.95), the known test split's top-1 and false rejection after enrolling, and what enrolling costs: the
share of the ``--unknown`` sources' faces still called unknown, and taken for one of the new characters.

``--enrol-as extra`` enrols the same crops as a server's own characters instead
(``darekana.recognizer.extra``: the bundle unchanged, centres of the crops through its network, margins on its
calibration faces), to compare with a bundle enrolment on the same draw.

``cross-set`` (the earlier benchmark): animeface-10's characters enrolled into a bundle trained on
hololive-20 (``--out``, trained when missing), with the same choice of crops.

Prints one JSON line on stdout (progress goes to stderr) with the machine, the seeds and the training seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.common import machine, network_figures, today
from bench.faces import Characters, characters_of, embedded, unknown_crops
from darekana.cli.train import add_head_arguments, add_serving_arguments, head_config
from darekana.recognizer.bundle import Label, load_manifest
from darekana.recognizer.embeddings import Embedded, load_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.extra import ExtraCharacters
from darekana.recognizer.images import load_image
from darekana.recognizer.layout import REPORT_FOLDER
from darekana.recognizer.results import Decision, Verdict
from darekana.train.configs import FinetuneConfig, FitConfig
from darekana.train.enroll import enroll
from darekana.train.fit import fit
from darekana.train.network import resolve_network
from darekana.train.shared import DATASETS

FALSE_REJECTION = 0.05  # of known test faces, where the rejection target is read
_SOURCE = re.compile(r"^(face_\d+_\d+)_\d+$")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
        yield


def source_of(path: Path) -> str:
    """Nagadomi's ``face_A_B_N`` crops of one source picture share ``face_A_B``; other files stand alone."""
    match = _SOURCE.match(path.stem)
    return match.group(1) if match else path.stem


def choose_crops(paths: list[Path], shots: int, seed: int) -> tuple[list[Path], list[Path]]:
    """``shots`` crops of distinct source pictures in a fixed shuffled order (fewer sources: more crops of
    each, round robin), and the crops of the source pictures none of them came from."""
    by_source: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        by_source[source_of(path)].append(path)
    sources = sorted(by_source)
    order = [sources[i] for i in np.random.default_rng(seed).permutation(len(sources))]
    chosen: list[Path] = []
    for depth in range(max(map(len, by_source.values()))):
        chosen += [by_source[s][depth] for s in order if depth < len(by_source[s])]
    chosen = chosen[:shots]
    used = {source_of(p) for p in chosen}
    return chosen, [p for p in paths if source_of(p) not in used]


def link(characters: Characters, target: Path) -> Path:
    """``target`` with one sub-folder per character holding links to its crops (made afresh: a run that
    stopped halfway leaves some)."""
    shutil.rmtree(target, ignore_errors=True)
    for name, paths in characters.items():
        (target / name).mkdir(parents=True)
        for path in paths:
            (target / name / path.name).symlink_to(path.resolve())
    return target


def rejected(decisions: list[Decision]) -> float:
    return round(float(np.mean([d.verdict is Verdict.UNKNOWN for d in decisions])), 4)


def rejection_figures(known: list[Decision], others: list[Decision]) -> dict[str, object]:
    """Rejection at the bundle's thresholds, at the distance rejecting ``FALSE_REJECTION`` of ``known``
    (the bundle's test faces), and the distance's AUROC of known against ``others``."""
    near, far = np.array([d.distance for d in known]), np.array([d.distance for d in others])
    at = np.quantile(near, 1 - FALSE_REJECTION)
    auroc = roc_auc_score(np.r_[np.zeros(len(near)), np.ones(len(far))], np.r_[near, far])
    return {
        "n": len(others),
        "rejected": rejected(others),
        f"rejected_at_{round(FALSE_REJECTION * 100)}pct_test": round(float((far > at).mean()), 4),
        "auroc": round(float(auroc), 4),
    }


def strangers_figures(
    recognizer: Recognizer, strangers: dict[str, Embedded], new: set[str], extra: ExtraCharacters | None = None
) -> dict[str, object]:
    """What enrolling costs: how many of each unknown source's faces are still called unknown once the new
    characters (label ids ``new``) answer too, how many are taken for one of them, and how many are named
    with confidence (all wrongly)."""
    figures: dict[str, object] = {}
    for name, faces in strangers.items():
        decisions = recognizer.decide(faces.logits, faces.unit, extra)
        taken = [d.label in new and d.verdict is not Verdict.UNKNOWN for d in decisions]
        confident = [d.verdict is Verdict.CONFIDENT for d in decisions]  # each a wrong name, said with confidence
        figures[f"{name}_rejected_after"] = rejected(decisions)
        figures[f"{name}_taken_for_new"] = round(float(np.mean(taken)), 4)
        figures[f"{name}_confident_after"] = round(float(np.mean(confident)), 4)
    return figures


@dataclass(frozen=True)
class Draw:
    """What each number of crops is enrolled from and judged on."""

    bundle: Path
    new: Characters  # the characters to enrol, all their crops
    new_faces: dict[Path, Embedded]  # each new crop through the bundle's network
    strangers: dict[str, Embedded]  # the unknown sources' faces
    seed: int


def enrolment_figures(draw: Draw, shots: int, work: Path) -> dict[str, object]:
    """``train enroll``: a new bundle holding the new characters."""
    bundle, new_faces, strangers = draw.bundle, draw.new_faces, draw.strangers
    chosen, others = chosen_and_others(draw.new, shots, draw.seed)
    started = time.perf_counter()
    with quiet():
        result = enroll(bundle, [link(chosen, work / "faces")], work / "enrolled")
    seconds = time.perf_counter() - started
    faces = embedded_others(new_faces, others)
    recognizer = Recognizer(result.bundle)
    enrolled = {label.id for label in recognizer.manifest.labels[recognizer.manifest.n_network :]}
    decisions = recognizer.decide(faces.logits, faces.unit)
    return (
        new_figures(decisions, others)
        | strangers_figures(recognizer, strangers, enrolled)
        | {
            "known_test_top1": round(result.report["top1"], 4),
            "known_false_rejection_rate": round(result.report["known_false_rejection_rate"], 4),
            "enroll_seconds": round(seconds, 1),
        }
    )


def extra_figures(draw: Draw, shots: int, work: Path) -> dict[str, object]:
    """The same characters as extra characters (``darekana.recognizer.extra``: a server's own), the bundle
    unchanged: centres of the crops through its network, margins on its calibration faces."""
    bundle, new_faces, strangers = draw.bundle, draw.new_faces, draw.strangers
    chosen, others = chosen_and_others(draw.new, shots, draw.seed)
    recognizer = Recognizer(bundle)
    names = sorted(chosen)
    started = time.perf_counter()
    crops = [load_image(p) for name in names for p in chosen[name]]
    owners = [i for i, name in enumerate(names) for _ in chosen[name]]
    extra = recognizer.extra_characters([Label(name, name) for name in names], crops, owners)
    seconds = time.perf_counter() - started
    faces = embedded_others(new_faces, others)
    manifest = load_manifest(bundle)
    test = load_embeddings(bundle, manifest.n_network, manifest.embedding_dim)
    assert test is not None, f"{bundle} keeps no embeddings"
    known = recognizer.decide(test["test"].logits, test["test"].unit, extra)
    labels = [label.id for label in manifest.labels]
    known_right = np.mean([d.label == labels[t] for d, t in zip(known, test["test"].targets)])
    enrolled = {label.id for label in extra.labels}
    new_decisions = recognizer.decide(faces.logits, faces.unit, extra)
    return (
        new_figures(new_decisions, others)
        | strangers_figures(recognizer, strangers, enrolled, extra)
        | {
            "known_test_top1": round(float(known_right), 4),
            "known_false_rejection_rate": rejected(known),
            "enroll_seconds": round(seconds, 1),
        }
    )


def chosen_and_others(new: Characters, shots: int, seed: int) -> tuple[Characters, list[tuple[Path, str]]]:
    chosen, others = {}, []
    for name, paths in new.items():
        chosen[name], rest = choose_crops(paths, shots, seed)
        others += [(p, name) for p in rest]
    return chosen, others


def embedded_others(new_faces: dict[Path, Embedded], others: list[tuple[Path, str]]) -> Embedded:
    return Embedded(
        np.concatenate([new_faces[p].logits for p, _ in others]),
        np.concatenate([new_faces[p].unit for p, _ in others]),
        np.full(len(others), -1),
    )


def new_figures(decisions: list[Decision], others: list[tuple[Path, str]]) -> dict[str, object]:
    """How the new characters' other faces are answered."""
    right = np.array([d.label == truth for d, (_, truth) in zip(decisions, others)])
    confident = np.array([d.verdict is Verdict.CONFIDENT for d in decisions])
    return {
        "new_n": len(others),
        "new_top1": round(float(right.mean()), 4),
        "new_called_unknown": rejected(decisions),
        "new_confident": round(float(confident.mean()), 4),
        "new_confident_right": round(float(right[confident].mean()), 4) if confident.any() else None,
    }


def per_crop(bundle: Path, new: Characters) -> dict[Path, Embedded]:
    """Each new crop's logits and unit embedding (enrolling leaves the network as it is: one pass serves
    the bundle before and after)."""
    paths = [p for folder in new.values() for p in folder]
    faces = embedded(bundle, [load_image(p) for p in paths], "embedding new characters")
    return {
        p: Embedded(faces.logits[i : i + 1], faces.unit[i : i + 1], faces.targets[i : i + 1])
        for i, p in enumerate(paths)
    }


def held_out(args: argparse.Namespace) -> dict[str, object]:
    source = characters_of(DATASETS / args.hold_from)
    names = sorted(source)
    held = sorted(names[i] for i in np.random.default_rng(args.seed).choice(len(names), args.hold, replace=False))
    new = {name: source[name] for name in held}
    check_network(args.network, held)
    out = Path(args.out)
    bundle = out / "bundle"
    if not (bundle / "manifest.json").is_file():
        data = [DATASETS / name for name in args.known if name != args.hold_from]
        if args.hold_from in args.known:
            data.append(link({n: p for n, p in source.items() if n not in new}, out / "data" / args.hold_from))
        config = fit_config(args)
        with quiet():
            fit(data, bundle, config)
    manifest = load_manifest(bundle)
    parts = load_embeddings(bundle, manifest.n_network, manifest.embedding_dim)
    assert parts is not None, f"{bundle} keeps no embeddings"
    recognizer = Recognizer(bundle)
    known = recognizer.decide(parts["test"].logits, parts["test"].unit)
    with quiet():
        new_faces = per_crop(bundle, new)
        before = {"held_out": rejection_figures(known, decide_all(recognizer, new_faces))}
        strangers = {
            name: embedded(
                bundle, unknown_crops(name, manifest.framing, args.unknown_sample, args.seed), f"embedding {name}"
            )
            for name in args.unknown
        }
        for name, faces in strangers.items():
            before[name] = rejection_figures(known, recognizer.decide(faces.logits, faces.unit))
    figures: dict[str, object] = {
        "benchmark": "enroll",
        "mode": "held-out",
        "enrol_as": args.enrol_as,
        "machine": machine(),
        "date": today(),
        "bundle": str(bundle),
        "network": network_figures(args.network),
        "known": args.known,
        "held_out_of": args.hold_from,
        "held_out": held,
        "seed": args.seed,
        "training": training_figures(bundle),
        "known_test_false_rejection": rejected(known),
        "before_enrolling": before,
    }
    return figures | shots_figures(Draw(bundle, new, new_faces, strangers, args.seed), args)


def decide_all(recognizer: Recognizer, faces: dict[Path, Embedded]) -> list[Decision]:
    logits = np.concatenate([e.logits for e in faces.values()])
    unit = np.concatenate([e.unit for e in faces.values()])
    return recognizer.decide(logits, unit)


def shots_figures(draw: Draw, args: argparse.Namespace) -> dict:
    figures: dict[str, object] = {}
    for shots in args.shots:
        with tempfile.TemporaryDirectory(prefix="darekana-enroll-") as work:
            enrol = extra_figures if args.enrol_as == "extra" else enrolment_figures
            figures[f"{shots}_crops"] = enrol(draw, shots, Path(work))
        print(f"{shots} crops: {figures[f'{shots}_crops']}", file=sys.stderr)
    return figures


def training_figures(bundle: Path) -> dict[str, object]:
    manifest = load_manifest(bundle)
    report = json.loads((bundle / REPORT_FOLDER / "report.json").read_text())
    return {
        "characters": manifest.n_network,
        "faces": manifest.training.get("faces"),
        "finetune": manifest.training.get("finetune"),
        "precision": manifest.training.get("precision", "float32"),  # bundles made before int8 served float32
        "mirror": manifest.training.get("mirror", False),
        "best_epoch": manifest.training.get("best_epoch"),
        "epochs_run": len(report.get("history", [])),
        "seconds": manifest.training.get("seconds"),
        "test_top1": manifest.metrics.get("test_top1"),
        "test_false_rejection": round(report["known_false_rejection_rate"], 4),
        "embedding_dim": manifest.embedding_dim,
    }


def cross_set(args: argparse.Namespace) -> dict[str, object]:
    bundle = Path(args.out)
    if not (bundle / "manifest.json").is_file():
        config = fit_config(args)
        with quiet():
            fit([DATASETS / "hololive-20"], bundle, config)
    new = characters_of(DATASETS / "animeface-10")
    with quiet():
        new_faces = per_crop(bundle, new)
    figures: dict[str, object] = {
        "benchmark": "enroll",
        "mode": "cross-set",
        "enrol_as": args.enrol_as,
        "machine": machine(),
        "bundle": str(bundle),
        "seed": args.seed,
        "training": training_figures(bundle),
        "new_characters": len(new),
    }
    return figures | shots_figures(Draw(bundle, new, new_faces, {}, args.seed), args)


def fit_config(args: argparse.Namespace) -> FitConfig:
    tune = FinetuneConfig(epochs=args.epochs, seed=args.train_seed, head=head_config(args))
    return FitConfig(network=args.network, int8=args.int8, mirror=args.mirror, img_size=args.img_size, finetune=tune)


def check_network(network: str, held: list[str]) -> None:
    """A base network that trained on a left-out character would make its figures meaningless."""
    if network == "none":
        return
    base = resolve_network(network)
    seen = set(base.record["characters"]) if base else set()
    if seen & set(held):
        sys.exit(f"{network} trained on {', '.join(sorted(seen & set(held)))}: give a base network that held them out")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("held-out", "cross-set"), default="held-out")
    p.add_argument("--out", help="bundle folder (cross-set) or run folder (held-out); reused when trained")
    p.add_argument("--known", nargs="+", default=["animeface-10", "moeimouto-85"], help="datasets trained on")
    p.add_argument("--hold-from", default="moeimouto-85", help="the dataset whose characters are left out")
    p.add_argument("--hold", type=int, default=15, help="characters left out of training")
    p.add_argument("--unknown", nargs="*", default=["hololive-20"], help="unknown sources of other styles")
    p.add_argument("--unknown-sample", type=int, default=2000, help="crops drawn of each unknown source (0: all)")
    p.add_argument("--seed", type=int, default=0, help="which characters are left out, which crops enrolled")
    p.add_argument("--train-seed", type=int, default=0, help="the training's seed (splits, initialisation)")
    p.add_argument(
        "--network",
        default="none",
        help="base network the bundle is built on, frozen ('train base'; it must have held the left-out "
        "characters out), or 'none': fine-tune from ImageNet",
    )
    add_serving_arguments(p, FitConfig())
    p.add_argument("--epochs", type=int, default=8, help="for a bundle that must be trained first")
    p.add_argument("--img-size", type=int, default=FitConfig().img_size, help="for a bundle that must be trained first")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5, 20], help="crops enrolled per character")
    p.add_argument(
        "--enrol-as",
        choices=("bundle", "extra"),
        default="bundle",
        help="bundle: train enroll makes a new bundle; extra: a server's own characters, the bundle unchanged",
    )
    add_head_arguments(p)
    args = p.parse_args()
    if args.mode == "held-out":
        args.out = args.out or "runs/enroll-bench/held-out"
        figures = held_out(args)
    else:
        args.out = args.out or "models/hololive-20"
        figures = cross_set(args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
