"""Cutting a MobileNetV2's hidden channels (``darekana.train.slim``) and blending faces for its teacher."""

from __future__ import annotations

import pytest
import torch

from darekana.train.backbones import MobileNetV2, load_pretrained
from darekana.train.finetune import mix_half
from darekana.train.shared import MOBILENET_V2_TRUNK
from darekana.train.slim import slim, slim_widths


@pytest.fixture(scope="module")
def trunk() -> MobileNetV2:
    net = MobileNetV2(5)
    load_pretrained(net, str(MOBILENET_V2_TRUNK))
    return net.eval()


def test_keeping_every_channel_gives_the_same_network(trunk: MobileNetV2):
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(slim(trunk, 1.0, 7).eval().embed(x), trunk.embed(x))


def test_half_the_hidden_channels_are_kept_in_multiples_of_eight_and_the_first_block_whole(trunk: MobileNetV2):
    widths = slim_widths(trunk, 0.5)
    assert widths[0] == trunk.hidden[0] == 32  # the first block does not expand
    assert all(w % 8 == 0 and abs(w - h / 2) <= 4 for w, h in zip(widths[1:], trunk.hidden[1:]))
    student = slim(trunk, 0.5, 7)
    assert student.hidden == widths and student.features_dim == trunk.features_dim
    assert student.classifier[1].out_features == 7
    assert sum(p.numel() for p in student.features.parameters()) < 0.7 * sum(
        p.numel() for p in trunk.features.parameters()
    )


def test_the_kept_channels_are_the_ones_that_feed_the_output_most(trunk: MobileNetV2):
    block = trunk.features[2]
    depthwise_bn, narrow = block.conv[1][1], block.conv[2]
    score = depthwise_bn.weight.abs() * narrow.weight.abs().sum(dim=(0, 2, 3))
    kept = score.topk(slim_widths(trunk, 0.5)[1]).indices.sort().values
    student = slim(trunk, 0.5, 7)
    torch.testing.assert_close(student.features[2].conv[2].weight, narrow.weight[:, kept])
    torch.testing.assert_close(student.features[2].conv[0][0].weight, block.conv[0][0].weight[kept])


@pytest.mark.parametrize("keep", [0.0, 1.5])
def test_a_share_outside_zero_to_one_is_refused(trunk: MobileNetV2, keep: float):
    with pytest.raises(ValueError, match="keep must be in"):
        slim_widths(trunk, keep)


def test_half_a_batch_is_blended_pairwise_and_loses_its_characters():
    x, targets = torch.rand(8, 3, 4, 4), torch.arange(8)
    mixed, taught = mix_half(x, targets, torch.Generator().manual_seed(0))
    torch.testing.assert_close(mixed[:4], x[:4])
    assert taught.tolist() == [0, 1, 2, 3, -1, -1, -1, -1]
    low, high = x.min(0).values, x.max(0).values  # a blend of two faces lies between the batch's extremes
    assert not torch.equal(mixed[4:], x[4:]) and bool(((mixed >= low - 1e-6) & (mixed <= high + 1e-6)).all())
