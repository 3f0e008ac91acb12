"""Fine-tuning a backbone on face crops, made to finish on a 2-core CPU.

The production recipe (``recipe="production"``), and why:
- With pretrained weights, the early layers (generic edges and textures) stay frozen: no gradients flow
  through them, which roughly triples training speed on a CPU and loses almost nothing on small datasets.
  From scratch (``--pretrained none``) everything trains.
- AdamW with a one-cycle schedule and label smoothing: converges in a handful of epochs.
- Augmentation runs batched in torch (random resized crop, horizontal flip, brightness/contrast), with no
  hue change: hair and eye colour are what tell many characters apart.
- Early stopping on validation accuracy (``keep_best``); ``best.pt``, and ``state.pt`` to resume from, in
  ``checkpoints/``.

The study's recipe (``recipe="study"``, Guan & Ge): SGD lr 0.001 momentum 0.9, StepLR 7/0.1, plain
cross-entropy, random resized crop (8–100 % of the area) and flip, a fixed number of epochs.
Training runs on ``device`` (``cuda`` when a GPU is there); nothing requires one.

With ``FinetuneConfig.head`` a cosine head (CosFace or ArcFace, ``darekana.train.backbones.CosineHead``),
the trainer puts it on the network in place of the linear one, and trains it with the margin on each face's
own character; validation, like the exported model, sees the logits without margin.

With ``FinetuneConfig.triplet_weight`` a batch-hard triplet loss on the unit embedding joins the loss, on
batches of K faces per character (:mod:`darekana.train.metric`).

With ``FinetuneConfig.ema`` an exponential moving average of the weights (and BatchNorm statistics) follows
every step (``torch.optim.swa_utils.AveragedModel``); validation, the kept epoch and so the exported network
are the average's.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from darekana.progress import progress, say
from darekana.recognizer.layout import partial, publish

from .backbones import (
    Backbone,
    BNNeck,
    CosineHead,
    EfficientNetLite0,
    MobileNetV2,
    ResNet,
    class_weights,
    head_of,
    install_head,
)
from .configs import FinetuneConfig
from .metric import batch_hard_triplet, grouped_order, look_alike_order
from .slim import distillation_loss

STATE_FILE = "state.pt"


@dataclass
class EpochLog:
    epoch: int
    loss: float
    val_accuracy: float
    seconds: float


@dataclass
class FinetuneResult:
    best_epoch: int
    best_val_accuracy: float
    history: list[EpochLog] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = True  # False: stopped by ``until`` before the last epoch


def resolve_device(device: str) -> str:
    """``auto``: cuda when a GPU is there, else cpu; any other name as it is."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def stem(net: Backbone) -> list[nn.Module]:
    """The early layers kept frozen when fine-tuning from pretrained weights."""
    if isinstance(net, MobileNetV2):
        return [net.features[:7]]  # up to the 32-channel stage (stride 8)
    if isinstance(net, ResNet):
        return [net.conv1, net.bn1, net.layer1]
    if isinstance(net, EfficientNetLite0):
        return [net._conv_stem, net._bn0, net._blocks[:5]]  # up to the 40-channel stage (stride 8)
    raise TypeError(f"no stem defined for {type(net).__name__}")


def normalize_batch(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC to normalised float NCHW, matching ``darekana.recognizer.preprocess.normalize``."""
    return ((pixels.float() / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def _uniform(generator: torch.Generator, n: int, lo: float, hi: float, *shape: int) -> torch.Tensor:
    """``n`` draws (each of ``shape``) from U(lo, hi), on the CPU, so runs repeat on any device."""
    return torch.empty(n, *shape).uniform_(lo, hi, generator=generator)


def _sides(area: torch.Tensor, log_ratio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two sides, as shares of the face's, of rectangles of ``area`` whose first side is ``exp(log_ratio)``
    times the second (each at most the whole side)."""
    ratio = log_ratio.exp()
    return torch.sqrt(area * ratio).clamp(max=1.0), torch.sqrt(area / ratio).clamp(max=1.0)


def augment(x: torch.Tensor, generator: torch.Generator, min_area: float = 0.75, jitter: bool = True) -> torch.Tensor:
    """Random resized crop (``min_area``–100 % of the area), horizontal flip, and with ``jitter`` brightness
    and contrast, drawn per sample (random numbers on the CPU, so runs repeat on any device)."""
    n = x.shape[0]
    uniform = functools.partial(_uniform, generator, n)
    sx, sy = _sides(uniform(min_area, 1.0), uniform(math.log(3 / 4), math.log(4 / 3)))
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = sx * flip, sy
    theta[:, 0, 2], theta[:, 1, 2] = (1 - sx) * uniform(-1, 1), (1 - sy) * uniform(-1, 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter:
        x = x * uniform(0.8, 1.2, 1, 1, 1).to(x.device) + uniform(-0.2, 0.2, 1, 1, 1).to(x.device)
    return x


def erase(
    x: torch.Tensor, generator: torch.Generator, share: float, area: tuple[float, float] = (0.02, 0.3)
) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): in ``share`` of the faces, a rectangle of ``area`` of the face
    (aspect 0.3–3.3) is set to the mean colour (0 once normalised), so no single cue (a ribbon, one eye) can
    name a character alone; the colours left are untouched."""
    n, _, h, w = x.shape
    uniform = functools.partial(_uniform, generator, n)
    eh, ew = _sides(uniform(*area), uniform(math.log(0.3), math.log(3.3)))
    top, left = (1 - eh) * uniform(0, 1), (1 - ew) * uniform(0, 1)
    chosen = uniform(0, 1) < share
    ys = (torch.arange(h) + 0.5) / h
    xs = (torch.arange(w) + 0.5) / w
    inside_y = (ys[None, :] >= top[:, None]) & (ys[None, :] < (top + eh)[:, None])
    inside_x = (xs[None, :] >= left[:, None]) & (xs[None, :] < (left + ew)[:, None])
    mask = (inside_y[:, :, None] & inside_x[:, None, :] & chosen[:, None, None])[:, None].to(x.device)
    return x.masked_fill(mask, 0.0)


def mix_half(x: torch.Tensor, targets: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The second half of the batch's faces each blended with another face of the batch (mixup, a share drawn
    uniformly per face), their targets -1: only the teacher's embedding teaches them. Blends of two characters
    stand between the characters a network knows, where those it never saw lie."""
    n = len(targets)
    first = n // 2
    share = torch.empty(n - first, 1, 1, 1).uniform_(0, 1, generator=generator).to(x.device)
    other = torch.randint(n, (n - first,), generator=generator).to(x.device)
    mixed = x.clone()
    mixed[first:n] = share * x[first:n] + (1 - share) * x[other]
    return mixed, torch.cat([targets[:first], torch.full_like(targets[first:], -1)])


Tensors = list[torch.Tensor] | tuple[torch.Tensor, ...]


def ema_update(decay: float) -> Callable[[Tensors, Tensors, torch.Tensor | int], None]:
    """An ``AveragedModel`` update: each step the average moves ``1 - decay`` of the way to the weights, the decay
    ramped up as ``(1 + n) / (10 + n)`` over the first steps (as timm's ModelEmaV2 warm-up), since a fixed one would
    keep a share of the newly drawn head's first weights through a short run. Integer buffers (BatchNorm's batch
    count) are copied."""

    @torch.no_grad()
    def update(averaged: Tensors, current: Tensors, steps: torch.Tensor | int) -> None:
        n = float(steps)
        rate = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for mean, now in zip(averaged, current, strict=True):
            if mean.is_floating_point():
                mean.lerp_(now, rate)
            else:
                mean.copy_(now)

    return update


def _optimizer(
    cfg: FinetuneConfig,
    params: list[nn.Parameter],
    steps_per_epoch: int,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, bool]:
    """Optimizer, schedule, and whether the schedule steps per batch (else per epoch)."""
    optimizer: torch.optim.Optimizer
    if cfg.recipe == "study":
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1), False
    if cfg.recipe != "production":
        raise ValueError(f"unknown recipe {cfg.recipe!r}: use 'production' or 'study'")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, pct_start=0.15, total_steps=cfg.epochs * steps_per_epoch
    )
    return optimizer, schedule, True


class Trainer:
    """Trains ``net``; when ``config.head`` asks for a cosine head it is installed on ``net`` itself, so the
    caller's network (which it exports) is the trained one."""

    def __init__(
        self,
        net: Backbone,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        config: FinetuneConfig,
        checkpoints: Path,
        teacher: Backbone | None = None,
    ):
        """``teacher``: a network whose embedding ``net``'s is taught to match (``config.distil_weight``)."""
        self.device = torch.device(resolve_device(config.device))
        if config.head.kind != "linear" and not isinstance(head_of(net), (CosineHead, BNNeck)):
            with torch.random.fork_rng():  # the head's initial weights repeat with the seed
                torch.manual_seed(config.seed)
                install_head(net, config.head)
        self.net = net.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.config = config
        self.mean, self.std = torch.tensor(mean, device=self.device), torch.tensor(std, device=self.device)
        self.checkpoints = checkpoints
        self.teacher = teacher.to(self.device).eval().requires_grad_(False) if teacher is not None else None
        self.frozen = stem(net) if config.freeze_stem else []
        for module in self.frozen:
            module.requires_grad_(False)
        self.average = (
            AveragedModel(self.net, multi_avg_fn=ema_update(config.ema), use_buffers=True) if config.ema > 0 else None
        )

    @property
    def judged(self) -> nn.Module:
        """The network validated, kept and exported: the weights' average when there is one."""
        return self.average.module if self.average is not None else self.net

    def logits(self, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
        net = self.judged.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(pixels), batch_size):
                batch = torch.from_numpy(pixels[start : start + batch_size]).to(self.device)
                out.append(net(normalize_batch(batch, self.mean, self.std)).cpu().numpy())
        return np.concatenate(out)

    def fit(
        self,
        train_x: np.ndarray,
        train_y: np.ndarray,
        val_x: np.ndarray,
        val_y: np.ndarray,
        resume: bool = False,
        until: int | None = None,
        outliers: np.ndarray | None = None,
    ) -> FinetuneResult:
        """Trains for ``config.epochs`` (or until early stopping) and leaves the chosen epoch's weights in the
        network. Each epoch ends with ``checkpoints/state.pt``: weights, optimizer, schedule and random
        states. With ``resume`` a run continues from it exactly as if it had never stopped; ``until`` stops
        this call after that epoch (``result.finished`` False), to continue in a later one. ``outliers``:
        faces of no known character, taught a uniform answer (``config.outlier_weight``)."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimizer, schedule, per_batch = _optimizer(cfg, params, math.ceil(len(train_x) / cfg.batch_size))
        pixels, targets = torch.from_numpy(train_x), torch.from_numpy(train_y)
        result, started, stale = FinetuneResult(-1, -1.0), time.perf_counter(), 0
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        first = 1
        if resume and (self.checkpoints / STATE_FILE).is_file():
            first, stale = self._restore(optimizer, schedule, generator, result)
            say(f"resuming after epoch {first - 1} of {cfg.epochs}")
            if stale >= cfg.patience:  # it had stopped early
                first = cfg.epochs + 1
        for epoch in range(first, min(cfg.epochs, until or cfg.epochs) + 1):
            t0 = time.perf_counter()
            loss = self._epoch(pixels, targets, outliers, optimizer, schedule if per_batch else None, generator, epoch)
            if not per_batch:
                schedule.step()
            accuracy = float((self.logits(val_x).argmax(1) == val_y).mean()) if len(val_y) else 0.0
            result.history.append(EpochLog(epoch, loss, accuracy, time.perf_counter() - t0))
            left = (cfg.epochs - epoch) * (time.perf_counter() - t0)
            say(f"epoch {epoch}: loss {loss:.3f}, validation top-1 {accuracy:.4f}; about {left / 60:.0f} min left")
            # Ties go to the later epoch: further into the one-cycle schedule, weights are better annealed,
            # and a small validation split ties often.
            if accuracy >= result.best_val_accuracy or not cfg.keep_best:
                result.best_epoch, result.best_val_accuracy, stale = epoch, accuracy, 0
                torch.save(self.judged.state_dict(), self.checkpoints / "best.pt")
            else:
                stale += 1
            self._save(epoch, stale, optimizer, schedule, generator, result)
            if stale >= cfg.patience:
                say(f"early stop: no gain in {cfg.patience} epochs")
                break
        else:
            result.finished = not result.history or result.history[-1].epoch == cfg.epochs
        self.net.load_state_dict(torch.load(self.checkpoints / "best.pt", weights_only=True, map_location=self.device))
        result.seconds = time.perf_counter() - started
        return result

    def _save(
        self,
        epoch: int,
        stale: int,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        generator: torch.Generator,
        result: FinetuneResult,
    ) -> None:
        state = {
            "epoch": epoch,
            "stale": stale,
            "net": self.net.state_dict(),
            "average": self.average.state_dict() if self.average is not None else None,
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best_epoch": result.best_epoch,
            "best_val_accuracy": result.best_val_accuracy,
            "history": [asdict(h) for h in result.history],
        }
        written = partial(self.checkpoints / STATE_FILE)
        torch.save(state, written)
        publish(written, self.checkpoints / STATE_FILE)  # a kill mid-write leaves the previous epoch's state

    def _restore(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        generator: torch.Generator,
        result: FinetuneResult,
    ) -> tuple[int, int]:
        """Loads ``state.pt`` into everything that trains; returns the next epoch and the stale count."""
        # on the CPU: the random states must stay CPU tensors; the optimizer and network move what they load
        state = torch.load(self.checkpoints / STATE_FILE, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["net"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        result.best_epoch, result.best_val_accuracy = state["best_epoch"], state["best_val_accuracy"]
        result.history = [EpochLog(**h) for h in state["history"]]
        return state["epoch"] + 1, state["stale"]

    def _epoch(
        self,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        outliers: np.ndarray | None,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler | None,
        generator: torch.Generator,
        epoch: int,
    ) -> float:
        self.net.train()
        for module in self.frozen:
            module.eval()  # frozen BatchNorm keeps its pretrained statistics
        cfg = self.config
        per_character, balance = cfg.faces_per_character, cfg.balance
        if cfg.triplet_weight > 0 and cfg.look_alikes:
            weights = class_weights(self.net).detach().cpu()
            order = look_alike_order(targets, per_character, cfg.look_alikes, weights, generator, balance)
        elif cfg.triplet_weight > 0:
            order = grouped_order(targets, per_character, generator, balance)
        else:
            order = torch.randperm(len(pixels), generator=generator)
        total, seen = 0.0, 0
        strangers = torch.from_numpy(outliers) if outliers is not None and len(outliers) else None
        bar = progress(range(0, len(order), cfg.batch_size), f"epoch {epoch}/{cfg.epochs}", "batch")
        for start in bar:
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single sample
                continue
            faces = pixels[idx]
            if strangers is not None:
                drawn = torch.randint(len(strangers), (cfg.outliers_per_batch,), generator=generator)
                faces = torch.cat([faces, strangers[drawn]])
            x = normalize_batch(faces.to(self.device), self.mean, self.std)
            x = augment(x, generator, cfg.min_area, cfg.jitter)
            if cfg.erase > 0:  # only then: runs without it keep the random numbers they drew before
                x = erase(x, generator, cfg.erase)
            y = targets[idx].to(self.device)
            if self.teacher is not None and cfg.distil_mix:
                x, y = mix_half(x, y, generator)
            loss = self._loss(x.contiguous(memory_format=torch.channels_last), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            if self.average is not None:
                self.average.update_parameters(self.net)
            total, seen = total + loss.item() * len(idx), seen + len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        return total / max(seen, 1)

    def _loss(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The batch's loss; ``x``'s first ``len(targets)`` faces are those targets' (the rest: outliers)."""
        cfg = self.config
        features = self.net.embed(x)
        labelled = targets >= 0  # faces mixed for the teacher (``mix_half``) have no character
        logits = self._training_logits(features, targets)
        known = logits[: len(targets)]
        loss = F.cross_entropy(known[labelled], targets[labelled], label_smoothing=cfg.label_smoothing)
        if cfg.triplet_weight > 0:
            named = features[: len(targets)][labelled]
            loss = loss + cfg.triplet_weight * batch_hard_triplet(named, targets[labelled], cfg.triplet_margin)
        if len(logits) > len(targets):  # outliers: cross-entropy to the uniform distribution over characters
            loss = loss - cfg.outlier_weight * F.log_softmax(logits[len(targets) :], dim=1).mean()
        if self.teacher is not None:
            with torch.no_grad():
                taught = self.teacher.embed(x)
            loss = loss + cfg.distil_weight * distillation_loss(features, taught)
        return loss

    def _training_logits(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Logits of ``features``, whose first ``len(targets)`` are those targets' faces (the rest: outliers)."""
        head = head_of(self.net)
        if isinstance(head, CosineHead):  # the margin needs each face's own character; outliers get none
            known = head(features[: len(targets)], targets.clamp(min=0))  # -1: mixed, no character
            return torch.cat([known, head(features[len(targets) :])]) if len(features) > len(targets) else known
        return head(features)
