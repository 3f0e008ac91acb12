"""Metric learning beside the classification loss: faces of one character pulled together, others pushed apart.

A softmax over the characters a network trains on only has to separate *those* characters; a bundle then
names and rejects characters it never saw by their distance to centres made from a few crops. Person
re-identification, whose test identities are never trained on either, adds a batch-hard triplet loss
(Hermans et al., 2017, "In Defense of the Triplet Loss for Person Re-Identification") on batches of P
identities × K pictures, so that distances themselves are trained. The triplet loss here reads the unit
embedding (the direction a bundle's centres and gallery read).

The study's typical error is two characters of one hair colour. In a batch of P characters drawn at random
such look-alikes rarely meet, so the hardest negative is seldom the one a bundle will confuse.
:func:`look_alike_order` puts characters whose classifier weights lie nearest each other into one batch
(doppelganger mining: Smirnov et al., 2017, "Doppelganger Mining for Face Representation Learning").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def grouped_order(targets: Tensor, per_character: int, generator: torch.Generator, balance: float = 0.0) -> Tensor:
    """An epoch's order of face indices in which faces come in runs of ``per_character`` faces of one
    character (a character's last run may be shorter), the runs shuffled: cut into batches of a multiple of
    ``per_character``, each batch holds P characters × K faces. Every face is visited once, as in a plain
    shuffled epoch, so the number of steps does not change; with ``balance``, see :func:`_runs`."""
    return _shuffled(_runs(targets, per_character, generator, balance), generator)


def look_alike_order(
    targets: Tensor,
    per_character: int,
    group: int,
    prototypes: Tensor,
    generator: torch.Generator,
    balance: float = 0.0,
) -> Tensor:
    """As :func:`grouped_order`, but the runs come in groups of ``group`` characters: one drawn (as likely as
    it has runs left) and the ``group - 1`` others with runs left whose ``prototypes`` (one row per character,
    such as the classifier's weights) are nearest it by cosine. The groups are shuffled; every face is still
    visited once."""
    if group < 2:
        raise ValueError(f"a group of look-alikes needs at least 2 characters, not {group}")
    runs = _runs(targets, per_character, generator, balance)
    queues: dict[int, list[Tensor]] = {}
    for run in runs:
        queues.setdefault(int(targets[run[0]]), []).append(run)
    unit = F.normalize(prototypes.float(), dim=1)
    similarity = unit @ unit.T
    left = torch.zeros(len(prototypes))
    for character, queue in queues.items():
        left[character] = len(queue)
    groups: list[Tensor] = []
    while left.sum() > 0:
        anchor = int(torch.multinomial(left, 1, generator=generator))
        others = similarity[anchor].masked_fill(left == 0, -torch.inf)
        others[anchor] = -torch.inf
        count = min(group - 1, int((others > -torch.inf).sum()))
        members = [anchor, *others.topk(count).indices.tolist()]
        groups.append(torch.cat([queues[c].pop() for c in members]))
        left[members] -= 1
    return _shuffled(groups, generator)


def _shuffled(pieces: list[Tensor], generator: torch.Generator) -> Tensor:
    """The ``pieces`` (runs or groups of face indices) in a shuffled order, joined into one epoch."""
    order = torch.randperm(len(pieces), generator=generator)
    return torch.cat([pieces[i] for i in order.tolist()]) if pieces else torch.zeros(0, dtype=torch.long)


def _runs(targets: Tensor, per_character: int, generator: torch.Generator, balance: float = 0.0) -> list[Tensor]:
    """Each character's faces, shuffled, cut into runs of ``per_character`` (the last may be shorter). With
    ``balance`` above 0, a character with n faces gets a share of the epoch's faces in proportion to
    n^(1 - balance) (1: every character alike), its faces repeated or left out to fill it; the epoch keeps
    its length."""
    if per_character < 2:
        raise ValueError(f"faces per character must be at least 2, not {per_character}")
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance must be in [0, 1], not {balance}")
    if balance > 0:
        return [run for faces in _balanced(targets, balance, generator) for run in faces.split(per_character)]
    shuffled = torch.randperm(len(targets), generator=generator)
    by_character = shuffled[torch.argsort(targets[shuffled], stable=True)]
    _, counts = torch.unique_consecutive(targets[by_character], return_counts=True)
    return [run for faces in by_character.split(counts.tolist()) for run in faces.split(per_character)]


def _balanced(targets: Tensor, balance: float, generator: torch.Generator) -> list[Tensor]:
    """Each character's faces for one epoch, as many as its share (see :func:`_runs`), in shuffled passes."""
    characters, counts = torch.unique(targets, return_counts=True)
    weights = counts.double() ** (1.0 - balance)
    exact = weights / weights.sum() * len(targets)
    quota = exact.floor().long()
    quota[torch.argsort(exact - quota, descending=True)[: len(targets) - int(quota.sum())]] += 1
    drawn = []
    for character, want in zip(characters.tolist(), quota.tolist()):
        faces = torch.nonzero(targets == character).flatten()
        passes = -(-want // len(faces))
        drawn.append(torch.cat([faces[torch.randperm(len(faces), generator=generator)] for _ in range(passes)])[:want])
    return drawn


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
