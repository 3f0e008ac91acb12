"""Tests for the margin-based heads (CosFace, ArcFace: ``darekana.train.backbones.CosineHead``): the margin
is a training device only, the export is what torch computes, and a short real training makes a bundle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from processes import darekana

from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import load_image
from darekana.train.backbones import CosineHead, build_backbone, embedding, head_of, install_head
from darekana.train.configs import FinetuneConfig, HeadConfig
from darekana.train.export import export_network
from darekana.train.finetune import Trainer
from darekana.train.shared import DATASETS

COSFACE = HeadConfig(kind="cosface", scale=30.0, margin=0.3)


@pytest.fixture(autouse=True)
def one_torch_thread():
    # Tiny forwards on a busy 2-core machine are far slower with torch's thread pool than without it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", ["cosface", "arcface"])
def test_the_margin_lowers_only_the_targets_logit_and_only_when_targets_are_given(kind: str):
    torch.manual_seed(0)
    head = CosineHead(16, 5, HeadConfig(kind=kind, scale=10.0, margin=0.3)).eval()
    features, targets = torch.randn(4, 16), torch.tensor([0, 3, 3, 1])
    plain, margined = head(features), head(features, targets)
    cosine = torch.nn.functional.normalize(features) @ torch.nn.functional.normalize(head.weight).T
    assert torch.allclose(plain, 10.0 * cosine, atol=1e-5)  # inference: s·cos, no margin
    rows = torch.arange(4)
    others = torch.ones_like(plain, dtype=torch.bool)
    others[rows, targets] = False
    assert torch.equal(plain[others], margined[others])
    theta = torch.acos(cosine[rows, targets].clamp(-1, 1))
    expected = cosine[rows, targets] - 0.3 if kind == "cosface" else torch.cos(theta + 0.3)
    assert torch.allclose(margined[rows, targets], 10.0 * expected, atol=1e-4)


def test_a_network_with_a_cosine_head_answers_without_margin_and_embeds_what_the_head_normalises():
    torch.manual_seed(0)
    net = build_backbone("mobilenet_v2", 3, HeadConfig(kind="cosface", projection=32)).eval()
    assert isinstance(net.classifier, CosineHead) and net.classifier.embedding_dim == 32
    x = torch.randn(2, 3, 48, 48)
    with torch.inference_mode():
        logits, vector = net(x), embedding(net, x)
        assert torch.allclose(logits, net.classifier.logits(vector))
    assert vector.shape == (2, 32) and logits.abs().max() <= 30.0 + 1e-4


@pytest.mark.parametrize("arch, projection", [("mobilenet_v2", 0), ("mobilenet_v2", 24), ("resnet18", 0)])
def test_export_of_a_cosine_head_matches_torch(arch: str, projection: int, tmp_path: Path):
    torch.manual_seed(0)
    net = install_head(build_backbone(arch, 4), HeadConfig(kind="cosface", projection=projection))
    if projection:  # BatchNorm statistics other than the initial ones, so the export must carry them
        net.train()(torch.randn(8, 3, 48, 48))
    net.eval()
    session = ort.InferenceSession(str(export_network(net, 48, tmp_path)), providers=["CPUExecutionProvider"])
    batch = torch.randn(3, 3, 48, 48)
    logits, vector = session.run(["logits", "embedding"], {"image": batch.numpy()})
    with torch.inference_mode():
        assert np.allclose(logits, net(batch).numpy(), atol=1e-3)
        assert np.allclose(vector, embedding(net, batch).numpy(), atol=1e-3)
    assert vector.shape == (3, projection or net.features_dim)


def test_the_trainer_installs_the_configured_head_on_the_callers_network(tmp_path: Path):
    net = build_backbone("mobilenet_v2", 2)
    trainer = Trainer(net, (0.5,) * 3, (0.25,) * 3, FinetuneConfig(epochs=1, head=COSFACE), tmp_path)
    head = head_of(net)
    assert trainer.net is net and isinstance(head, CosineHead) and head.margin == 0.3
    again = build_backbone("mobilenet_v2", 2)
    Trainer(again, (0.5,) * 3, (0.25,) * 3, FinetuneConfig(epochs=1, head=COSFACE), tmp_path)
    again_head = head_of(again)  # initialised from the seed: the same weights
    assert isinstance(again_head, CosineHead) and torch.equal(again_head.weight, head.weight)
    plain = build_backbone("mobilenet_v2", 2)
    Trainer(plain, (0.5,) * 3, (0.25,) * 3, FinetuneConfig(epochs=1), tmp_path)
    assert isinstance(head_of(plain), torch.nn.Sequential)  # linear, as before


def test_a_short_real_training_with_the_cosface_head_makes_a_working_bundle(tmp_path: Path):
    """Three animeface-10 characters, two epochs at 64 px, through ``darekana train fit --head cosface``: the
    bundle's network has the cosine head, its embedding is the projection, and it names most held-back faces."""
    characters = sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())[:3]
    data = tmp_path / "faces"
    data.mkdir()
    for folder in characters:
        (data / folder.name).symlink_to(folder)
    flags = ("--network", "none", "--img-size", "64", "--epochs", "2", "--head", "cosface", "--margin", "0.3")
    flags += ("--projection", "64")
    done = darekana("train", "fit", str(data), "--out", str(tmp_path / "bundle"), *flags)
    assert done.returncode == 0, done.stderr
    bundle = tmp_path / "bundle"
    manifest = load_manifest(bundle)
    assert manifest.embedding_dim == 64
    assert manifest.training["finetune"]["head"] == {"kind": "cosface", "scale": 30.0, "margin": 0.3, "projection": 64}
    report = json.loads((bundle / "report" / "report.json").read_text())
    assert report["top1"] >= 0.6, report["top1"]  # chance: 1/3
    test = [Path(p) for p in json.loads((bundle / "split.json").read_text())["test"]]
    decisions = Recognizer(bundle).classify([load_image(p) for p in test[:10]])
    assert all(0 <= d.confidence <= 1 and math.isfinite(d.distance) for d in decisions)
