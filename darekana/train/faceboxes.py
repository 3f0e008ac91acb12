"""FaceBoxes (Zhang et al., 2017) in plain torch, with the reference implementation's exact ``state_dict``.

The shared anime head detector (``../shared/weights/anime-faceboxes.pth``, trained on Danbooru pictures)
is that implementation's checkpoint, so it loads with ``strict=True``; :func:`export_detector` writes the
ONNX file the recognizer runs (``darekana.recognizer.faceboxes``), with dynamic height and width::

    >>> import torch
    >>> net = load_faceboxes(FACEBOXES_WEIGHTS)
    >>> loc, conf = net(torch.zeros(1, 3, 256, 256))
    >>> loc.shape, conf.shape   # 21·8² + 4² + 2² priors
    (torch.Size([1, 1364, 4]), torch.Size([1, 1364, 2]))

The network's input is BGR 0–255 less the mean (104, 117, 123), made by ``darekana.recognizer.detectors``
(``network_input``), which also decodes the outputs against the priors of ``darekana.recognizer.boxes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .export import to_onnx_file
from .shared import FACEBOXES_WEIGHTS


class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class CRelu(nn.Module):
    """Convolution whose output is doubled as (x, -x) before the ReLU: half the filters for the same width."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu(torch.cat([x, -x], 1), inplace=True)


class Inception(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(128, 32, 1)
        self.branch1x1_2 = BasicConv2d(128, 32, 1)
        self.branch3x3_reduce = BasicConv2d(128, 24, 1)
        self.branch3x3 = BasicConv2d(24, 32, 3, padding=1)
        self.branch3x3_reduce_2 = BasicConv2d(128, 24, 1)
        self.branch3x3_2 = BasicConv2d(24, 32, 3, padding=1)
        self.branch3x3_3 = BasicConv2d(32, 32, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch1x1_2(pooled),
                self.branch3x3(self.branch3x3_reduce(x)),
                self.branch3x3_3(self.branch3x3_2(self.branch3x3_reduce_2(x))),
            ],
            1,
        )


class FaceBoxes(nn.Module):
    """Outputs per prior: box offsets ``loc`` (N, P, 4) and class logits ``conf`` (N, P, 2), background first.
    Logits in every mode (training wants them); the exported ONNX file adds the softmax."""

    # Priors per cell on the three detection layers: 4² + 2² + 1 for anchors 32/64/128, then 1 and 1.
    ANCHORS_PER_CELL = (21, 1, 1)

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = CRelu(3, 24, 7, stride=4, padding=3)
        self.conv2 = CRelu(48, 64, 5, stride=2, padding=2)
        self.inception1 = Inception()
        self.inception2 = Inception()
        self.inception3 = Inception()
        self.conv3_1 = BasicConv2d(128, 128, 1)
        self.conv3_2 = BasicConv2d(128, 256, 3, stride=2, padding=1)
        self.conv4_1 = BasicConv2d(256, 128, 1)
        self.conv4_2 = BasicConv2d(128, 256, 3, stride=2, padding=1)
        channels = (128, 256, 256)
        self.loc = nn.Sequential(*(nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(channels, self.ANCHORS_PER_CELL)))
        self.conf = nn.Sequential(
            *(nn.Conv2d(c, a * num_classes, 3, padding=1) for c, a in zip(channels, self.ANCHORS_PER_CELL))
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.max_pool2d(self.conv1(x), kernel_size=3, stride=2, padding=1)
        x = F.max_pool2d(self.conv2(x), kernel_size=3, stride=2, padding=1)
        first = self.inception3(self.inception2(self.inception1(x)))
        second = self.conv3_2(self.conv3_1(first))
        third = self.conv4_2(self.conv4_1(second))
        n = x.shape[0]
        # Channels last, so that priors are ordered row by row, cell by cell, anchor by anchor (recognizer.boxes).
        loc = torch.cat(
            [head(s).permute(0, 2, 3, 1).reshape(n, -1, 4) for head, s in zip(self.loc, (first, second, third))], 1
        )
        conf = torch.cat(
            [
                head(s).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
                for head, s in zip(self.conf, (first, second, third))
            ],
            1,
        )
        return loc, conf


def load_faceboxes(path: str | Path = FACEBOXES_WEIGHTS) -> FaceBoxes:
    """A FaceBoxes network with the weights at ``path`` (a reference-layout ``state_dict``), loaded strictly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from nn.DataParallel
    net = FaceBoxes()
    net.load_state_dict(state, strict=True)
    return net.eval()


class _Probabilities(nn.Module):
    """What the ONNX file computes: box offsets and the face probability of each prior."""

    def __init__(self, net: FaceBoxes):
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        loc, conf = self.net(image)
        return loc, conf.softmax(-1)[..., 1]


def export_detector(net: FaceBoxes, path: str | Path) -> Path:
    """``net`` as ONNX: input ``image`` (N, 3, H, W) float32 as ``darekana.recognizer.detectors.network_input`` makes
    it, H and W multiples of 32; outputs ``loc`` (N, P, 4) and ``score`` (N, P), P priors in the order of
    ``darekana.recognizer.boxes.priors``. Checked against torch on two sizes."""
    path = Path(path)
    wrapper = _Probabilities(net.eval()).eval()
    probe = torch.randn(1, 3, 256, 384) * 60
    axes = {"image": {0: "n", 2: "height", 3: "width"}, "loc": {0: "n", 1: "priors"}, "score": {0: "n", 1: "priors"}}
    session = to_onnx_file(wrapper, probe, path, ["loc", "score"], axes)
    for shape in ((1, 3, 256, 384), (2, 3, 512, 256)):
        x = torch.randn(*shape) * 60
        with torch.inference_mode():
            expected = [t.numpy() for t in wrapper(x)]
        got = session.run(["loc", "score"], {"image": x.numpy()})
        worst = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        if worst > 1e-3:
            raise RuntimeError(f"FaceBoxes ONNX export differs from torch by {worst:.4g} at {shape}")
    return path
