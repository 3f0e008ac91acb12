"""``darekana train detector``: fine-tune FaceBoxes on pictures with head boxes, and keep it only if it wins.

Starts from the shared anime head detector, trains on the pictures outside the held-back split
(``darekana.train.detection.split_pictures``; a slice of them picks the best epoch), scores the fine-tuned network and
the shared weights on the held-back pictures with the same detector code the recognizer runs, and writes the
winner as ONNX to ``--out``. Beside it, ``OUT.report/`` holds ``report.json`` and ``recall_precision.png``.

Augmentation is SSD's: zoom out (the picture on a larger canvas of the mean colour, so heads get small),
random square crops around heads (so they get large, up to a whole crop), colour jitter and mirroring.
Loss is MultiBox: priors matched to heads at IoU ≥ 0.35 (and each head to its best prior), smooth-L1 on the
matched priors' offsets, cross-entropy with hard negatives mined 7:1.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

from darekana.progress import progress, say
from darekana.recognizer.boxes import FACEBOXES_PRIORS, centre_to_corners, encode, iou_matrix, priors
from darekana.recognizer.detect import DetectorSpec
from darekana.recognizer.detectors import FaceBoxesDetector, network_input
from darekana.recognizer.images import load_image

from .configs import DetectorTrainConfig
from .detection import Annotated, figures, load_voc, plot_pr, pr_curve, run_detector, split_pictures
from .faceboxes import FaceBoxes, export_detector, load_faceboxes


@dataclass
class DetectorTrainResult:
    model: Path
    winner: str  # "fine-tuned" or "shared"
    report: dict[str, Any]


# --- augmentation -----------------------------------------------------------------------------------------

_MEAN_RGB = (123, 117, 104)


def _zoom_out(image: Image.Image, boxes: np.ndarray, rng: random.Random) -> tuple[Image.Image, np.ndarray]:
    ratio = rng.uniform(1.0, 3.0)
    w, h = round(image.width * ratio), round(image.height * ratio)
    left, top = rng.randint(0, w - image.width), rng.randint(0, h - image.height)
    canvas = Image.new("RGB", (w, h), _MEAN_RGB)
    canvas.paste(image, (left, top))
    return canvas, boxes + [left, top, left, top]


def _crop(image: Image.Image, boxes: np.ndarray, rng: random.Random) -> tuple[Image.Image, np.ndarray]:
    """A random square crop that keeps at least one head's centre; heads whose centre falls outside go."""
    short = min(image.size)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for _ in range(50):
        side = rng.uniform(0.3, 1.0) * short
        left, top = rng.uniform(0, image.width - side), rng.uniform(0, image.height - side)
        inside = ((centres >= [left, top]) & (centres <= [left + side, top + side])).all(1)
        if inside.any():
            kept = np.clip(boxes[inside] - [left, top, left, top], 0, side)
            return image.crop((round(left), round(top), round(left + side), round(top + side))), kept
    side = max(image.size)  # no luck: the whole picture, padded square
    canvas = Image.new("RGB", (side, side), _MEAN_RGB)
    canvas.paste(image, (0, 0))
    return canvas, boxes.copy()


def _jitter(image: Image.Image, rng: random.Random) -> Image.Image:
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        if rng.random() < 0.5:
            image = enhance(image).enhance(rng.uniform(0.7, 1.3))
    return image


def augment(item: Annotated, picture: Image.Image, size: int, rng: random.Random) -> tuple[Image.Image, np.ndarray]:
    """One training view of ``picture`` (``size``² px) and its head boxes in that view's pixels."""
    boxes = item.boxes.copy()
    if rng.random() < 0.5:
        picture, boxes = _zoom_out(picture, boxes, rng)
    picture, boxes = _crop(picture, boxes, rng)
    picture = _jitter(picture, rng)
    if rng.random() < 0.5:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        boxes = np.stack([picture.width - boxes[:, 2], boxes[:, 1], picture.width - boxes[:, 0], boxes[:, 3]], 1)
    factor = size / picture.width
    boxes = boxes * factor
    picture = picture.resize((size, size), Image.Resampling.BILINEAR)
    keep = ((boxes[:, 2:] - boxes[:, :2]) >= 8).all(1)  # heads too small to learn from
    return picture, boxes[keep]


# --- the MultiBox loss --------------------------------------------------------------------------------------


def targets(boxes: np.ndarray, prior: np.ndarray, match_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Per prior: whether it is a head (bool) and its regression target (P, 4)."""
    positive = np.zeros(len(prior), bool)
    offsets = np.zeros((len(prior), 4), np.float32)
    if not len(boxes):
        return positive, offsets
    overlaps = iou_matrix(boxes, centre_to_corners(prior))  # (G, P)
    best_box = overlaps.argmax(0)
    best_overlap = overlaps.max(0)
    best_overlap[overlaps.argmax(1)] = 1.0  # every head keeps its best prior, however small the overlap
    best_box[overlaps.argmax(1)] = np.arange(len(boxes))
    positive = best_overlap >= match_iou
    offsets[positive] = encode(boxes[best_box[positive]], prior[positive], FACEBOXES_PRIORS.variance)
    return positive, offsets


def multibox_loss(
    loc: torch.Tensor, conf: torch.Tensor, positive: torch.Tensor, offsets: torch.Tensor, negatives_per_positive: int
) -> torch.Tensor:
    n_pos = positive.sum(1, keepdim=True)
    loc_loss = F.smooth_l1_loss(loc[positive], offsets[positive], reduction="sum")
    ce = F.cross_entropy(conf.reshape(-1, 2), positive.reshape(-1).long(), reduction="none").view_as(positive)
    mined = ce.detach().clone()
    mined[positive] = 0
    rank = mined.argsort(1, descending=True).argsort(1)
    negative = rank < (negatives_per_positive * n_pos).clamp(max=positive.shape[1] - 1)
    conf_loss = ce[positive | negative].sum()
    return (2.0 * loc_loss + conf_loss) / n_pos.sum().clamp(min=1)


# --- training -------------------------------------------------------------------------------------------------


def _freeze_batch_norm(net: FaceBoxes) -> None:
    """A few hundred pictures are too few to re-estimate BatchNorm statistics: keep the shared ones."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def _batches(
    items: list[tuple[Annotated, Image.Image]],
    config: DetectorTrainConfig,
    rng: random.Random,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of augmented views: network inputs, which priors are heads, and their regression targets."""
    prior = priors(FACEBOXES_PRIORS, config.size, config.size)
    order = list(range(len(items)))
    rng.shuffle(order)
    for start in range(0, len(order), config.batch_size):
        images, pos, off = [], [], []
        for i in order[start : start + config.batch_size]:
            view, boxes = augment(items[i][0], items[i][1], config.size, rng)
            p, o = targets(boxes, prior, config.match_iou)
            images.append(network_input(view)[0])
            pos.append(p)
            off.append(o)
        yield torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(pos)), torch.from_numpy(np.stack(off))


def _load(data: list[Annotated]) -> list[tuple[Annotated, Image.Image]]:
    return [(item, load_image(item.path)) for item in progress(data, "loading pictures", "picture")]


def _score(
    net: FaceBoxes,
    data: list[Annotated],
    spec: DetectorSpec,
    workdir: Path,
    name: str,
) -> tuple[dict[str, Any], Path]:
    model = export_detector(net, workdir / f"{name}.onnx")
    found = run_detector(FaceBoxesDetector(replace(spec, score=0.05), model), data, f"scoring {name}")
    curve = pr_curve(data, found, 0.5)
    row = {
        "ap50": round(curve["ap"], 4),
        "ap75": round(pr_curve(data, found, 0.75)["ap"], 4),
        "at_default": figures(data, found, 0.5, spec.score),
        "recall_at_precision_0.95": _recall_at(curve, 0.95),
    }
    return {"row": row, "curve": curve}, model


def _recall_at(curve: dict[str, Any], precision: float) -> float:
    ok = curve["precision"] >= precision
    return round(float(curve["recall"][ok].max()), 4) if ok.any() else 0.0


def detector_splits(
    data: list[Annotated],
    config: DetectorTrainConfig | None = None,
) -> tuple[list[Annotated], list[Annotated], list[Annotated]]:
    """(train, validation, held back): the held-back split of ``split_pictures``, and a seeded slice of the
    rest that picks the best epoch. The validation pictures are also where the detector's default options
    are tuned (``bench/detect.py --tune``): the network never trained on them."""
    config = config or DetectorTrainConfig()
    tune, held = split_pictures(data)
    shuffled = tune[:]
    random.Random(config.seed).shuffle(shuffled)
    n_val = max(1, round(len(shuffled) * config.validation))
    return shuffled[n_val:], shuffled[:n_val], held


def train_detector(
    folders: list[str | Path],
    out: str | Path,
    config: DetectorTrainConfig | None = None,
    spec: DetectorSpec = DetectorSpec(),
) -> DetectorTrainResult:
    """Fine-tunes FaceBoxes on ``folders`` (VOC boxes) and writes the better of it and the shared weights."""
    config = config or DetectorTrainConfig()
    out = Path(out)
    started = time.perf_counter()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    train, val, held = detector_splits(load_voc(folders), config)
    train_items = _load(train)
    say(f"{len(train_items)} training, {len(val)} validation and {len(held)} held-back pictures")

    net = load_faceboxes(config.weights)
    shared = load_faceboxes(config.weights)
    optimiser = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(train_items) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=steps, pct_start=0.1)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {k: v.clone() for k, v in net.state_dict().items()})
    with tempfile.TemporaryDirectory(prefix="darekana-detector-") as tmp:
        work = Path(tmp)
        for epoch in progress(range(1, config.epochs + 1), "fine-tuning", "epoch"):
            loss = _epoch(net, _batches(train_items, config, rng), config, optimiser, schedule)
            record = {"epoch": epoch, "loss": round(loss, 4)}
            if epoch % config.evaluate_every == 0 or epoch == config.epochs:
                scored, _ = _score(net.eval(), val, spec, work, "validation")
                # AP@0.5 alone saturates on a few dozen pictures; the tighter AP@0.75 still tells epochs apart.
                record["val_ap"] = round((scored["row"]["ap50"] + scored["row"]["ap75"]) / 2, 4)
                if record["val_ap"] >= best[0]:  # ties: the later, longer-trained epoch
                    best = (record["val_ap"], {k: v.clone() for k, v in net.state_dict().items()})
            history.append(record)
            say(json.dumps(record))
        net.load_state_dict(best[1])
        tuned, tuned_model = _score(net.eval(), held, spec, work, "fine-tuned")
        base, base_model = _score(shared, held, spec, work, "shared")
        winner = "fine-tuned" if tuned["row"]["ap50"] > base["row"]["ap50"] else "shared"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tuned_model if winner == "fine-tuned" else base_model, out)
        torch.save(net.state_dict(), out.with_suffix(".pth"))
    report = {
        "winner": winner,
        "held_back_pictures": len(held),
        "held_back_heads": int(sum(len(a.boxes) for a in held)),
        "fine-tuned": tuned["row"],
        "shared": base["row"],
        "history": history,
        "config": asdict(config),
        "seconds": round(time.perf_counter() - started, 1),
    }
    _write_report(out.with_name(out.name + ".report"), report, tuned["curve"], base["curve"])
    return DetectorTrainResult(out, winner, report)


def _epoch(
    net: FaceBoxes,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    config: DetectorTrainConfig,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One pass over the training pictures; the mean loss. BatchNorm stays frozen: batches are small."""
    net.train()
    _freeze_batch_norm(net)
    losses = []
    for images, positive, offsets in batches:
        loc, conf = net(images)
        loss = multibox_loss(loc, conf, positive, offsets, config.negatives_per_positive)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def _write_report(folder: Path, report: dict[str, Any], tuned: dict[str, Any], shared: dict[str, Any]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    title = f"held-back pictures ({report['held_back_pictures']}), IoU 0.5"
    plot_pr({"fine-tuned": tuned, "shared weights": shared}, folder / "recall_precision.png", title)
