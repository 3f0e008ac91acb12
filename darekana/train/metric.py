"""Metric learning beside the classification loss: faces of one character pulled together, others pushed apart.

A softmax over the characters a network trains on only has to separate *those* characters; a bundle then
names and rejects characters it never saw by their distance to centres made from a few crops. Person
re-identification, whose test identities are never trained on either, adds a batch-hard triplet loss
(Hermans et al., 2017, "In Defense of the Triplet Loss for Person Re-Identification") on batches of P
identities × K pictures, so that distances themselves are trained. The triplet loss here reads the unit
embedding (the direction a bundle's centres and gallery read).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def grouped_order(targets: Tensor, per_character: int, generator: torch.Generator) -> Tensor:
    """An epoch's order of face indices in which faces come in runs of ``per_character`` faces of one
    character (a character's last run may be shorter), the runs shuffled: cut into batches of a multiple of
    ``per_character``, each batch holds P characters × K faces. Every face is visited once, as in a plain
    shuffled epoch, so the number of steps does not change."""
    if per_character < 2:
        raise ValueError(f"faces per character must be at least 2, not {per_character}")
    shuffled = torch.randperm(len(targets), generator=generator)
    by_character = shuffled[torch.argsort(targets[shuffled], stable=True)]
    _, counts = torch.unique_consecutive(targets[by_character], return_counts=True)
    runs = [run for faces in by_character.split(counts.tolist()) for run in faces.split(per_character)]
    order = torch.randperm(len(runs), generator=generator)
    return torch.cat([runs[i] for i in order.tolist()]) if runs else shuffled


def batch_hard_triplet(features: Tensor, targets: Tensor, margin: float) -> Tensor:
    """For each face with another face of its character and a face of another in the batch: its farthest
    same-character face should be nearer than its nearest other-character face by ``margin`` (Euclidean, on
    the unit sphere). The mean over such faces; zero when there are none."""
    unit = F.normalize(features, dim=1)
    distance = torch.cdist(unit, unit).clamp(min=1e-12)
    same = targets[:, None] == targets[None, :]
    own = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    positive = same & ~own
    anchors = positive.any(1) & (~same).any(1)
    if not anchors.any():
        return features.sum() * 0.0  # keeps the graph: backward still runs
    farthest = distance.masked_fill(~positive, -1.0).amax(1)
    nearest = distance.masked_fill(same, float("inf")).amin(1)
    return F.relu(farthest - nearest + margin)[anchors].mean()
