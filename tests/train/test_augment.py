"""Training-time augmentation of face batches (``darekana.train.finetune``)."""

from __future__ import annotations

import torch

from darekana.train.finetune import erase


def _erased(share: float, seed: int = 0) -> torch.Tensor:
    faces = torch.full((400, 3, 40, 48), 2.0)
    return erase(faces, torch.Generator().manual_seed(seed), share) == 0


def test_random_erasing_blanks_one_rectangle_in_about_its_share_of_the_faces():
    blank = _erased(0.5)
    touched = blank.flatten(1).any(1)
    assert 0.4 < touched.float().mean() < 0.6
    for face in blank[touched][:50]:
        rows, cols = face[0].any(1).nonzero(), face[0].any(0).nonzero()
        block = face[0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert block.all()  # one solid rectangle, nothing outside it
        assert int(face[0].sum()) == block.numel()
        assert torch.equal(face[0], face[1]) and torch.equal(face[0], face[2])  # every channel alike
        assert 0.01 < block.numel() / face[0].numel() <= 0.31


def test_random_erasing_repeats_with_its_generator_and_is_off_at_zero():
    assert torch.equal(_erased(0.5, seed=3), _erased(0.5, seed=3))
    assert not torch.equal(_erased(0.5, seed=3), _erased(0.5, seed=4))
    assert not _erased(0.0).any()
