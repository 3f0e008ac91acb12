"""A cheaper MobileNetV2 cut from a trained one (``darekana train base --slim KEEP``).

Most of MobileNetV2's work is in the expanded ("hidden") channels of its inverted residuals: the 1×1
convolution that widens a block, the depthwise one, and the 1×1 that narrows it back. ``slim`` keeps
``keep`` of each block's hidden channels, those that feed its output most (the depthwise BatchNorm's scale
times the L1 norm of the channel's narrowing weights), and copies their weights; the blocks' inputs and
outputs keep their widths, so the residual paths, the 1280-wide embedding and every other weight are kept
as they are. What the cut loses the slim network then learns back from the full one: ``train base`` teaches
it to give the full network's embedding (:func:`distillation_loss`) beside its own classification loss.

A block whose expansion is 1 (the first) has no hidden channels of its own and is kept whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbones import InvertedResidual, MobileNetV2

ROUND_TO = 8  # channel counts stay multiples of 8, which the CPU kernels vectorise


def slim_widths(net: MobileNetV2, keep: float) -> list[int]:
    """Each block's hidden width after keeping ``keep`` (0–1] of it; blocks without expansion unchanged."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], not {keep}")
    return [_width(block, keep) for block in net.features if isinstance(block, InvertedResidual)]


def slim(net: MobileNetV2, keep: float, num_classes: int) -> MobileNetV2:
    """A new MobileNetV2 with ``keep`` of ``net``'s hidden channels in every expanding block, their weights
    copied from ``net``, and a fresh linear head of ``num_classes``."""
    student = MobileNetV2(num_classes, hidden=slim_widths(net, keep))
    cut = {
        f"features.{index}.conv.": block
        for index, block in enumerate(net.features)
        if isinstance(block, InvertedResidual) and _expands(block)
    }
    state = {
        key: value.clone() for key, value in net.state_dict().items() if not key.startswith((net.head_prefix, *cut))
    }
    for prefix, block in cut.items():
        state.update(_cut(block, _strongest(block, _width(block, keep)), prefix))
    missing, unexpected = student.load_state_dict(state, strict=False)
    assert not unexpected and all(key.startswith(net.head_prefix) for key in missing), (missing, unexpected)
    return student


def distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean cosine distance between the two networks' embeddings: bundles read only their direction."""
    return (1 - F.cosine_similarity(student, teacher.detach(), dim=1)).mean()


def _expands(block: InvertedResidual) -> bool:
    return len(block.conv) == 4  # widen, depthwise, narrow, its BatchNorm


def _width(block: InvertedResidual, keep: float) -> int:
    if not _expands(block):
        return block.hidden
    return max(ROUND_TO, round(block.hidden * keep / ROUND_TO) * ROUND_TO)


def _strongest(block: InvertedResidual, width: int) -> Tensor:
    """The ``width`` hidden channels that feed the block's output most, in their original order."""
    depthwise_bn, narrow = block.conv.get_submodule("1.1"), block.conv.get_submodule("2")
    assert isinstance(depthwise_bn, nn.BatchNorm2d) and isinstance(narrow, nn.Conv2d)
    with torch.no_grad():
        score = depthwise_bn.weight.abs() * narrow.weight.abs().sum(dim=(0, 2, 3))
    return score.topk(width).indices.sort().values


def _cut(block: InvertedResidual, keep: Tensor, prefix: str) -> dict[str, Tensor]:
    """The block's weights for the kept hidden channels, named as in the slim network."""
    out: dict[str, Tensor] = {}
    for key, value in block.conv.state_dict().items():
        if key.endswith("num_batches_tracked"):
            out[prefix + key] = value.clone()
        elif key.startswith(("0.", "1.")):  # widening and depthwise: one row per hidden channel
            out[prefix + key] = value[keep].clone()
        elif key == "2.weight":  # narrowing: one column per hidden channel
            out[prefix + key] = value[:, keep].clone()
        else:  # the narrowing BatchNorm, on the block's output
            out[prefix + key] = value.clone()
    return out
