"""FaceBoxes: the network and the shared weights (darekana.train.faceboxes), the box maths
(darekana.recognizer.boxes), and the ONNX detector (darekana.recognizer.detectors) on real pictures of
paperface-heads."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from darekana.recognizer.boxes import FACEBOXES_PRIORS, decode, encode, iou_matrix, nms, priors
from darekana.recognizer.detect import DEFAULT_DETECTOR_MODEL, MULTI_SCALE, DetectorSpec
from darekana.recognizer.detectors import FaceBoxesDetector, network_input
from darekana.recognizer.images import load_image
from darekana.train.configs import DetectorTrainConfig
from darekana.train.detection import load_voc, match, split_pictures
from darekana.train.detector import targets, train_detector
from darekana.train.faceboxes import FaceBoxes, export_detector, load_faceboxes
from darekana.train.shared import DATASETS, FACEBOXES_WEIGHTS

PAPERFACE = DATASETS / "paperface-heads"
# Held-back pictures with one or two heads each.
KNOWN = ("143.jpg", "16.jpg", "181.jpg", "213.jpg")


@pytest.fixture(scope="module")
def net() -> FaceBoxes:
    return load_faceboxes()


@pytest.fixture(scope="module")
def exported(net: FaceBoxes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared weights, exported as ``train detector`` and ``bench/detect.py`` do."""
    return export_detector(net, tmp_path_factory.mktemp("detector") / "detector.onnx")


@pytest.fixture(scope="module")
def model() -> Path:
    """The detector new bundles get: the shared weights fine-tuned on paperface-heads (recognizer/data)."""
    return DEFAULT_DETECTOR_MODEL


@pytest.fixture(scope="module")
def detector(model: Path) -> FaceBoxesDetector:
    return FaceBoxesDetector(DetectorSpec(), model)


def annotated(name: str):
    return next(a for a in load_voc([PAPERFACE]) if a.path.name == name)


def boxes_of(faces) -> np.ndarray:
    return np.array([f.box.corners() for f in faces], float).reshape(-1, 4)


# --- the network and its weights ---------------------------------------------------------------------------


def test_shared_weights_load_strictly_with_the_reference_keys(net):
    state = torch.load(FACEBOXES_WEIGHTS, map_location="cpu", weights_only=True)
    assert set(state) == set(net.state_dict())
    assert sum(p.numel() for p in net.parameters()) == 1_007_330
    with pytest.raises(RuntimeError, match="Unexpected key"):
        FaceBoxes().load_state_dict({**state, "extra.weight": torch.zeros(1)}, strict=True)


def test_priors_line_up_with_the_network_outputs(net):
    for height, width in ((128, 128), (256, 384), (1024, 640), (704, 992), (32, 96)):
        loc, conf = net(torch.zeros(1, 3, height, width))
        assert loc.shape[1] == conf.shape[1] == len(priors(FACEBOXES_PRIORS, height, width))


def test_prior_layout_is_the_reference_one():
    p = priors(FACEBOXES_PRIORS, 128, 128)
    # First cell of the stride-32 layer: 16 anchors of 32 px on a 4×4 grid from the cell's corner (x fastest),
    # then 4 of 64 px, then one 128 px anchor at the cell's centre; then the next cell to the right.
    assert p[:4].tolist() == [[0, 0, 32, 32], [8, 0, 32, 32], [16, 0, 32, 32], [24, 0, 32, 32]]
    assert p[4].tolist() == [0, 8, 32, 32]
    assert p[16:20].tolist() == [[0, 0, 64, 64], [16, 0, 64, 64], [0, 16, 64, 64], [16, 16, 64, 64]]
    assert p[20].tolist() == [16, 16, 128, 128]
    assert p[21].tolist() == [32, 0, 32, 32]
    assert p[-1].tolist() == [64, 64, 512, 512]  # the single stride-128 cell


def test_encode_and_decode_are_inverse():
    rng = np.random.default_rng(0)
    prior = np.column_stack([rng.uniform(0, 500, (50, 2)), rng.uniform(20, 300, (50, 2))])
    corners = np.column_stack([rng.uniform(0, 400, (50, 2)), np.zeros((50, 2))])
    corners[:, 2:] = corners[:, :2] + rng.uniform(10, 200, (50, 2))
    assert np.allclose(decode(encode(corners, prior), prior), corners, atol=1e-6)


def test_nms_keeps_the_best_of_each_cluster():
    boxes = np.array(
        [[0, 0, 100, 100], [5, 5, 105, 105], [200, 0, 300, 100], [202, 2, 298, 98], [0, 200, 50, 250]], float
    )
    scores = np.array([0.6, 0.9, 0.5, 0.8, 0.3])
    assert nms(boxes, scores, iou=0.5).tolist() == [1, 3, 4]
    assert nms(boxes, scores, iou=0.99).tolist() == [1, 3, 0, 2, 4]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    assert iou_matrix(boxes[:1], boxes[:1]).item() == pytest.approx(1.0)


def test_onnx_matches_torch_on_a_real_picture(net, exported):
    image = load_image(PAPERFACE / "pictures" / "16.jpg")
    x = network_input(image)
    with torch.inference_mode():
        loc, conf = net(torch.from_numpy(x))
    got_loc, got_score = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    assert np.abs(got_loc - loc.numpy()).max() < 1e-3
    assert np.abs(got_score - conf.softmax(-1)[..., 1].numpy()).max() < 1e-4


# --- the detector on real pictures ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KNOWN)
def test_known_heads_are_found(detector, name):
    truth = annotated(name)
    faces = [f for f in detector.detect(load_image(truth.path)) if f.sure]
    assert len(faces) == len(truth.boxes), faces
    found = boxes_of(faces)
    assert match(found, np.array([f.score for f in faces]), truth.boxes, 0.5).all(), iou_matrix(found, truth.boxes)


def test_nothing_in_blank_or_noise(detector):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8))
    for picture in (Image.new("RGB", (640, 480), "white"), Image.new("RGB", (300, 300), "black"), noise):
        assert detector.detect(picture) == []


def test_boxes_are_mapped_back_from_a_downscaled_picture(detector):
    truth = annotated("213.jpg")
    image = load_image(truth.path)
    big = image.resize((image.width * 3, image.height * 3), Image.Resampling.BICUBIC)  # 2148×2985: detected at 768
    found = boxes_of(detector.detect(big))
    assert len(found) == 1
    assert iou_matrix(found, truth.boxes * 3).max() >= 0.5, (found, truth.boxes * 3)


@pytest.mark.parametrize("size, at", [((4000, 700), (2900, 20)), ((700, 4000), (20, 3100))])
def test_boxes_are_mapped_back_in_very_wide_and_tall_pictures(detector, size, at):
    truth = annotated("213.jpg")
    x0, y0, x1, y1 = truth.boxes[0]
    margin = (x1 - x0) / 2  # the head with half a head of the picture around it
    region = load_image(truth.path).crop(
        (round(x0 - margin), round(y0 - margin), round(x1 + margin), round(y1 + margin))
    )
    scale = 640 / region.height
    canvas = Image.new("RGB", size, (240, 240, 235))
    canvas.paste(region.resize((round(region.width * scale), 640)), at)
    expected = np.array(
        [
            [
                at[0] + margin * scale,
                at[1] + margin * scale,
                at[0] + (margin + x1 - x0) * scale,
                at[1] + (margin + y1 - y0) * scale,
            ]
        ]
    )
    found = boxes_of(detector.detect(canvas))
    assert len(found) == 1
    assert iou_matrix(found, expected).max() >= 0.5, (found, expected)


def test_many_threads_get_the_same_boxes_as_one(detector):
    pictures = [load_image(annotated(name).path) for name in KNOWN]
    expected = [detector.detect(p) for p in pictures]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(detector.detect, pictures * 4))
    assert got == expected * 4


def test_multi_scale_finds_small_heads_single_scale_misses(model):
    """Four heads at a fifth of their size in a 1024 px picture: too small for one pass at 768 px."""
    truth = annotated("213.jpg")
    head = load_image(truth.path)
    small = head.resize((head.width // 5, head.height // 5))
    canvas = Image.new("RGB", (1024, 768), (245, 245, 240))
    spots = [(60, 100), (330, 420), (600, 120), (820, 450)]
    for spot in spots:
        canvas.paste(small, spot)
    expected = np.concatenate([truth.boxes / 5 + [x, y, x, y] for x, y in spots])
    single = FaceBoxesDetector(DetectorSpec(), model).detect(canvas)
    multi = FaceBoxesDetector(DetectorSpec(scales=MULTI_SCALE), model).detect(canvas)
    hits = [int(match(boxes_of(f), np.array([x.score for x in f]), expected, 0.5).sum()) for f in (single, multi)]
    assert hits[1] > hits[0] and hits[1] >= 3, hits


def test_faces_below_sure_are_marked(model):
    truth = annotated("143.jpg")
    image = load_image(truth.path)
    faces = FaceBoxesDetector(DetectorSpec(score=0.05, sure=0.9), model).detect(image)
    assert faces and all(f.sure == (f.score >= 0.9) for f in faces)
    assert not all(f.sure for f in faces)


def test_held_back_split_is_fixed_by_name():
    data = load_voc([PAPERFACE])
    tune, held = split_pictures(data)
    assert len(held) == 71 and not {a.path for a in tune} & {a.path for a in held}
    assert {a.path.name for a in split_pictures(data[::-1])[1]} == {a.path.name for a in held}
    assert set(KNOWN) <= {a.path.name for a in held}


def test_spec_options_reach_the_detector(model):
    image = load_image(annotated("143.jpg").path)
    strict = FaceBoxesDetector(replace(DetectorSpec(), score=0.999), model).detect(image)
    loose = FaceBoxesDetector(replace(DetectorSpec(), score=0.3), model).detect(image)
    assert len(strict) < len(loose)


# --- fine-tuning ---------------------------------------------------------------------------------------------


def test_train_detector_writes_the_winner_and_a_report(tmp_path):
    """One short epoch on a few real pictures: the loop, the held-back comparison, the ONNX and the plot."""
    data = tmp_path / "heads"
    (data / "pictures").mkdir(parents=True)
    (data / "boxes").mkdir()
    for item in load_voc([PAPERFACE])[:24]:
        shutil.copyfile(item.path, data / "pictures" / item.path.name)
        shutil.copyfile(PAPERFACE / "boxes" / (item.path.stem + ".xml"), data / "boxes" / (item.path.stem + ".xml"))
    out = tmp_path / "detector.onnx"
    result = train_detector([data], out, DetectorTrainConfig(epochs=1, batch_size=8, size=256, evaluate_every=1))
    assert result.winner in ("fine-tuned", "shared") and result.model == out
    report = json.loads((tmp_path / "detector.onnx.report" / "report.json").read_text())
    assert report["winner"] == result.winner and report["held_back_pictures"] == 6
    assert report["history"][0]["loss"] > 0 and "val_ap" in report["history"][0]
    better = "fine-tuned" if report["fine-tuned"]["ap50"] > report["shared"]["ap50"] else "shared"
    assert better == result.winner
    assert Image.open(tmp_path / "detector.onnx.report" / "recall_precision.png").size[0] > 300
    FaceBoxesDetector(DetectorSpec(), out)  # loads and passes the detector's own checks


def test_multibox_targets_match_each_head_to_priors():
    prior = priors(FACEBOXES_PRIORS, 256, 256)
    heads = np.array([[20, 20, 84, 84], [100, 120, 230, 250]], float)
    positive, offsets = targets(heads, prior, 0.35)
    assert positive.sum() >= 2
    matched = decode(offsets[positive], prior[positive])
    assert (iou_matrix(matched, heads).max(1) > 0.99).all()  # every positive encodes one of the heads exactly
    none, _ = targets(np.zeros((0, 4)), prior, 0.35)
    assert not none.any()
