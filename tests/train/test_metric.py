"""The triplet loss beside classification: batches of P characters × K faces, and the batch-hard loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from darekana.train.metric import batch_hard_triplet, grouped_order, look_alike_order


def test_an_epoch_in_runs_of_k_faces_visits_every_face_once_and_batches_hold_k_of_each_character():
    targets = torch.arange(10).repeat_interleave(8)[torch.randperm(80, generator=torch.Generator().manual_seed(1))]
    order = grouped_order(targets, 4, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(80))
    for batch in order.split(16):  # P = 4 characters × K = 4 faces
        counts = torch.bincount(targets[batch], minlength=10)
        assert all(c % 4 == 0 for c in counts.tolist()), batch  # two runs of one character may meet


def test_the_order_differs_between_epochs_and_repeats_with_the_seed():
    targets = torch.arange(6).repeat_interleave(5)
    first, second = (grouped_order(targets, 2, torch.Generator().manual_seed(s)) for s in (0, 1))
    assert not torch.equal(first, second)
    assert torch.equal(first, grouped_order(targets, 2, torch.Generator().manual_seed(0)))


def test_fewer_than_two_faces_per_character_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        grouped_order(torch.zeros(4, dtype=torch.long), 1, torch.Generator())


def _look_alikes(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight characters of 8 faces each, in two families: 0-3 look alike, and so do 4-7."""
    targets = torch.arange(8).repeat_interleave(8)[torch.randperm(64, generator=torch.Generator().manual_seed(1))]
    family = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    prototypes = family + 0.05 * torch.randn(8, 2, generator=torch.Generator().manual_seed(seed))
    return targets, prototypes


def test_look_alike_batches_visit_every_face_once_and_hold_characters_that_look_alike():
    targets, prototypes = _look_alikes(0)
    order = look_alike_order(targets, 4, 4, prototypes, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(64))
    for group in order.split(16):  # four characters × four faces, drawn from one family
        families = {int(c) // 4 for c in targets[group]}
        assert len(families) == 1, targets[group]


def test_random_batches_mix_the_families_that_look_alike_batches_keep_apart():
    targets, _ = _look_alikes(0)
    order = grouped_order(targets, 4, torch.Generator().manual_seed(0))
    mixed = [len({int(c) // 4 for c in targets[group]}) > 1 for group in order.split(16)]
    assert any(mixed)


def test_look_alike_order_repeats_with_the_seed_and_refuses_a_group_of_one():
    targets, prototypes = _look_alikes(0)
    first, again = (look_alike_order(targets, 4, 2, prototypes, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, look_alike_order(targets, 4, 2, prototypes, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="at least 2 characters"):
        look_alike_order(targets, 4, 1, prototypes, torch.Generator())


@pytest.mark.parametrize(("balance", "expected"), [(0.0, [90, 10]), (0.5, [75, 25]), (1.0, [50, 50])])
def test_balance_shares_an_epoch_between_characters_by_a_power_of_their_faces_and_keeps_its_length(
    balance: float, expected: list[int]
):
    targets = torch.tensor([0] * 90 + [1] * 10)  # 90^0.5 : 10^0.5 = 3 : 1
    order = grouped_order(targets, 4, torch.Generator().manual_seed(0), balance)
    assert len(order) == 100 and torch.bincount(targets[order]).tolist() == expected
    few = order[targets[order] == 1]
    assert set(few.tolist()) == set(range(90, 100))  # the small character's faces all come, some twice


def test_a_balance_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="balance"):
        grouped_order(torch.tensor([0, 0, 1, 1]), 2, torch.Generator(), 1.5)


def test_the_loss_is_zero_when_every_character_is_apart_by_the_margin_and_not_otherwise():
    apart = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    targets = torch.tensor([0, 0, 1, 1])
    assert batch_hard_triplet(apart, targets, 0.3).item() == 0.0
    crossed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.01], [0.01, 1.0]])  # each face beside the other character
    assert batch_hard_triplet(crossed, targets, 0.3).item() > 1.0


def test_faces_without_a_partner_or_a_rival_add_nothing_and_the_graph_stays():
    features = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet(features, torch.tensor([0, 1, 2]), 0.3)  # no two faces of one character
    loss.backward()
    assert loss.item() == 0.0 and features.grad is not None


def test_descending_the_loss_groups_faces_by_character():
    generator = torch.Generator().manual_seed(0)
    targets = torch.arange(5).repeat_interleave(6)
    features = torch.randn(30, 16, generator=generator).requires_grad_(True)
    optimizer = torch.optim.SGD([features], lr=2.0)
    before = _nearest_other_face_agrees(features.detach(), targets)
    for _ in range(300):
        optimizer.zero_grad()
        batch_hard_triplet(features, targets, 0.3).backward()
        optimizer.step()
    assert before < 0.5 and _nearest_other_face_agrees(features.detach(), targets) == 1.0


def _nearest_other_face_agrees(features: torch.Tensor, targets: torch.Tensor) -> float:
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit.T - 2 * torch.eye(len(unit))
    return float((targets[similarity.argmax(1)] == targets).float().mean())
