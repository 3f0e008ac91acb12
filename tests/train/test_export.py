"""Every backbone exports to an ONNX model with the two outputs the engine reads."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from darekana.train.backbones import build_backbone
from darekana.train.configs import ARCHITECTURES
from darekana.train.export import export_network


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_export_matches_torch(arch: str, tmp_path):
    torch.manual_seed(0)
    net = build_backbone(arch, 4).eval()
    path = export_network(net, 48, tmp_path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = torch.randn(3, 3, 48, 48)  # a batch size other than the export's, through the dynamic axis
    logits, embedding = session.run(["logits", "embedding"], {"image": batch.numpy()})
    with torch.inference_mode():
        assert np.allclose(logits, net(batch).numpy(), atol=1e-3)
        assert np.allclose(embedding, net.embed(batch).numpy(), atol=1e-3)
    assert embedding.shape == (3, net.features_dim)
