"""The recognizer end to end on a bundle trained in the test session from real faces."""

from __future__ import annotations

import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from PIL import Image
from threadpoolctl import threadpool_info, threadpool_limits

from darekana.recognizer import BundleError, ImageError, Recognizer
from darekana.recognizer.annotate import annotate
from darekana.recognizer.centres import Centres, load_centres
from darekana.recognizer.decision import l2_normalize, pad_labels, pad_primary, route
from darekana.recognizer.describe import describe
from darekana.recognizer.detect import MULTI_SCALE
from darekana.recognizer.images import decode_image, load_image
from darekana.recognizer.layout import FALLBACK_FILE
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import to_batch
from darekana.recognizer.results import FACE_SCHEMA, RECOGNITION_SCHEMA, Model
from darekana.train.backbones import build_backbone, load_pretrained
from darekana.train.network import load_network
from darekana.train.shared import BASE_NETWORK, DATASETS


@pytest.fixture(scope="module")
def recognizer(trained_bundle: Path) -> Recognizer:
    return Recognizer(trained_bundle)


def test_held_back_faces_are_recognized_well_above_chance(recognizer: Recognizer, held_back: list[Path]):
    right = 0
    for path in held_back:
        result = recognizer.recognize(path.read_bytes())
        assert result.faces, path
        right += result.faces[0].label == path.parent.name
    accuracy = right / len(held_back)
    assert accuracy >= 0.8, f"top-1 {accuracy:.2f} on {len(held_back)} held-back faces (chance is 0.1)"


def test_training_report_and_manifest(trained_bundle: Path):
    manifest = json.loads((trained_bundle / "manifest.json").read_text())
    assert manifest["metrics"]["test_top1"] >= 0.8
    # Measured from nagadomi's crops with the head detector (about 1.3 head boxes, centred), not the default.
    framing = manifest["framing"]
    assert manifest["detector"]["kind"] == "faceboxes" and (trained_bundle / manifest["detector"]["file"]).is_file()
    assert 1.1 <= framing["scale"] <= 1.6 and (framing["scale"], framing["top"]) != (1.4, 0.7), framing
    t = manifest["thresholds"]
    assert 0.3 <= t["primary"] < 1 and 0.5 <= t["confident"] < 1 and 0.5 < t["distance"] < 5
    for name in (
        "report/report.md",
        "report/report.json",
        "report/confusion.png",
        "report/reliability.png",
        "split.json",
        "embeddings.npz",
    ):
        assert (trained_bundle / name).is_file(), name
    assert Image.open(trained_bundle / "report/confusion.png").size[0] > 300


def _torch_logits(bundle: Path, manifest: dict, batch: np.ndarray) -> np.ndarray:
    """The bundle's logits in torch: its fine-tuned checkpoint, or the base network it was built on (loaded
    back from its ONNX) with the head that fit put on it, reading each face with its mirror image where the bundle
    does."""
    if (bundle / "checkpoints/best.pt").is_file():
        net = build_backbone(manifest["architecture"], len(manifest["labels"]))
        net.load_state_dict(torch.load(bundle / "checkpoints/best.pt", weights_only=True))
        with torch.inference_mode():
            return net.eval()(torch.from_numpy(batch)).numpy()
    base = load_network(BASE_NETWORK)
    assert manifest["training"]["network"]["sha256"] == base.sha256
    net = build_backbone(manifest["architecture"], 1)
    load_pretrained(net, str(base.path))
    with torch.inference_mode():
        embedding = net.eval().embed(torch.from_numpy(batch)).numpy()
        if manifest["training"].get("mirror"):
            embedding = (embedding + net.embed(torch.from_numpy(batch[..., ::-1].copy())).numpy()) / 2
    head = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(bundle / "model.onnx")).graph.initializer}
    unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    return unit @ head["head.weight"].T + head["head.bias"]


def test_onnx_gives_the_same_top1_as_torch(trained_bundle: Path, held_back: list[Path]):
    manifest = json.loads((trained_bundle / "manifest.json").read_text())
    batch = to_batch([load_image(p) for p in held_back[:32]], manifest["input_size"], manifest["mean"], manifest["std"])
    expected = _torch_logits(trained_bundle, manifest, batch)
    session = ort.InferenceSession(str(trained_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    logits, embedding = session.run(["logits", "embedding"], {"image": batch})
    assert (logits.argmax(1) == expected.argmax(1)).all()
    # an int8 network is served as darekana.train.quantize made it
    if manifest["training"].get("precision", "").startswith("int8"):
        cosine = (logits * expected).sum(1) / np.linalg.norm(logits, axis=1) / np.linalg.norm(expected, axis=1)
        assert cosine.min() > 0.98 and not np.allclose(logits, expected, atol=1e-3)
    else:
        assert np.allclose(logits, expected, atol=1e-3)
    assert embedding.shape == (len(batch), manifest["embedding_dim"])


def _group_picture(paths: list[Path], scale: int = 3) -> Image.Image:
    crops = [load_image(p) for p in paths]
    canvas = Image.new(
        "RGB", (sum(c.width * scale + 60 for c in crops) + 60, max(c.height for c in crops) * scale + 120), "white"
    )
    x = 60
    for crop in crops:
        canvas.paste(crop.resize((crop.width * scale, crop.height * scale)), (x, 60))
        x += crop.width * scale + 60
    return canvas


def test_every_face_of_a_group_picture_in_reading_order(recognizer: Recognizer, held_back: list[Path]):
    chosen = [p for p in held_back if p.name.startswith("face_")][:3]
    picture = _group_picture(chosen)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    result = recognizer.recognize(buffer.getvalue())
    # Faint detections (below the detector's ``sure``; answered, marked) may add a row of their own.
    sure = [f for f in result.faces if f.sure]
    assert len(sure) >= 2
    xs = [f.box.x for f in sure]
    assert xs == sorted(xs)
    assert all(len(f.candidates) == 5 for f in result.faces)
    assert all(abs(sum(c.probability for c in f.candidates) - 1) < 0.5 for f in result.faces)
    drawn = annotate(picture, result)
    assert drawn.size == picture.size and drawn.tobytes() != picture.tobytes()
    payload = json.loads(json.dumps(result.to_dict()))
    jsonschema.validate(payload, plain_json_schema(RECOGNITION_SCHEMA))
    assert payload["faces"][0]["verdict"] in ("confident", "unsure", "unknown")


def plain_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema says it (a type list), so ``jsonschema`` can check against it."""
    if isinstance(schema, list):
        return [plain_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {k: plain_json_schema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        plain["type"] = [plain["type"], "null"]
        if "enum" in plain:
            plain["enum"] = [*plain["enum"], None]
    return plain


def test_the_schema_names_every_field_a_face_has(recognizer: Recognizer, held_back: list[Path]):
    """A field added to the JSON form without the schema (or the other way round) fails here."""
    face = recognizer.recognize(load_image(held_back[0])).faces[0]
    assert set(face.to_dict()) == set(FACE_SCHEMA["properties"]) == set(FACE_SCHEMA["required"])


def test_no_face_is_said_and_the_whole_picture_flagged(recognizer: Recognizer):
    blank = Image.new("RGB", (300, 200), (200, 220, 255))
    result = recognizer.recognize(blank)
    assert result.faces_detected == 0
    assert len(result.faces) == 1 and result.faces[0].whole_picture
    assert describe(result)[0].startswith("no anime face found")
    assert recognizer.recognize(blank, classify_whole=False).faces == []


def test_unknown_characters_are_rejected_more_than_known_ones(recognizer: Recognizer, held_back: list[Path]):
    strangers = sorted((DATASETS / "hololive-20").glob("*/*.jpg"))[::200][:40]
    unknown = [d.verdict for d in recognizer.classify([load_image(p) for p in strangers])]
    known = [d.verdict for d in recognizer.classify([load_image(p) for p in held_back])]
    rejected_unknown = sum(v == "unknown" for v in unknown) / len(unknown)
    rejected_known = sum(v == "unknown" for v in known) / len(known)  # calibrated to about 5 % on validation
    assert rejected_unknown > rejected_known + 0.3, (rejected_unknown, rejected_known)
    not_confident = [sum(v != "confident" for v in verdicts) / len(verdicts) for verdicts in (unknown, known)]
    assert not_confident[0] > not_confident[1], not_confident


def test_safe_to_call_from_many_threads(recognizer: Recognizer, held_back: list[Path]):
    data = [p.read_bytes() for p in held_back[:8]]
    serial = [recognizer.recognize(d).to_dict()["faces"] for d in data]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda d: recognizer.recognize(d).to_dict()["faces"], data * 2))
    assert parallel == serial * 2


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 10, "not an image"),
        (_png_header(50_000, 50_000), "image too large: 50000×50000 > 40 MP"),
    ],
)
def test_bad_input_gives_a_clear_error(recognizer: Recognizer, data: bytes, message: str):
    with pytest.raises(ImageError, match=message):
        recognizer.recognize(data)


def test_truncated_picture_gives_a_clear_error(recognizer: Recognizer, held_back: list[Path]):
    data = held_back[0].read_bytes()
    with pytest.raises(ImageError, match="corrupt or truncated"):
        recognizer.recognize(data[: len(data) // 2])


def test_animated_gif_uses_its_first_frame(recognizer: Recognizer, held_back: list[Path]):
    first = load_image(held_back[0])
    frames = [first, Image.new("RGB", first.size, "black")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = recognizer.recognize(buffer.getvalue())
    assert result.faces and result.width == first.width


def test_faces_the_detector_is_unsure_of_are_answered_but_never_confident(trained_bundle: Path, held_back: list[Path]):
    sure = Recognizer(trained_bundle)
    doubtful = Recognizer(trained_bundle, detection={"sure": 1.01})  # no score reaches it
    named = (p.read_bytes() for p in held_back)
    pictures = [data for data in named if any(f.verdict == "confident" and f.sure for f in sure.recognize(data).faces)]
    assert pictures, "the test bundle should name some held-back faces with confidence"
    for data in pictures[:20]:  # faces that would be confident, demoted when the detector doubts them
        result = doubtful.recognize(data)
        for face, line in zip(result.faces, describe(result)[-len(result.faces) :]):
            if face.whole_picture:
                continue
            assert not face.sure and face.verdict != "confident" and line.endswith("(unclear face)"), line
            assert result.to_dict()["faces"][0]["face_sure"] is False


def test_the_detector_cannot_be_swapped_for_one_the_framing_was_not_measured_with(trained_bundle: Path):
    with pytest.raises(BundleError, match="framed with its own faceboxes detector"):
        Recognizer(trained_bundle, detection={"kind": "animeface"})
    assert Recognizer(trained_bundle, detection={"scales": MULTI_SCALE}).detector.spec.scales == MULTI_SCALE


def test_a_large_jpeg_is_answered_in_its_own_pixels(recognizer: Recognizer):
    picture = load_image(DATASETS / "paperface-heads/pictures/236.jpg")  # three heads
    scale = 5000 / picture.width
    large = io.BytesIO()
    picture.resize((5000, round(picture.height * scale)), Image.Resampling.BICUBIC).save(large, "JPEG", quality=92)
    small, big = recognizer.recognize(picture), recognizer.recognize(large.getvalue())  # read at 2048 px
    assert (big.width, big.height) == (5000, round(picture.height * scale)) and len(big.faces) == len(small.faces) == 3
    for a, b in zip(small.faces, big.faces):
        assert all(abs(p * scale - q) <= 0.05 * b.box.w for p, q in zip(a.box.as_list(), b.box.as_list())), (
            a.box,
            b.box,
        )
    drawn = annotate(decode_image(large.getvalue()), big)  # on the picture as read, boxes scaled to it
    assert drawn.height == 2048


def test_a_spent_time_budget_stops_the_work(recognizer: Recognizer):
    import time

    from darekana.recognizer.images import TooSlow

    data = (DATASETS / "paperface-heads/pictures/236.jpg").read_bytes()
    with pytest.raises(TooSlow, match="takes too long to read"):
        recognizer.recognize(data, deadline=time.monotonic())
    assert len(recognizer.recognize(data, deadline=time.monotonic() + 60).faces) == 3


def _same(a: Any, b: Any) -> bool:
    """Equal, figures to within their last rounded digit: ONNX Runtime's sums differ in the last float bits
    between a batch and a single face, enough to round 2.55025 either way."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 2e-4
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def test_many_pictures_at_once_answer_as_one_at_a_time(recognizer: Recognizer):
    """The batch tagger's way (every face of several pictures in one batch) gives each picture's own answers,
    whole-picture guesses included."""
    pictures = [decode_image(p.read_bytes()) for p in sorted((DATASETS / "paperface-heads/pictures").glob("*.jpg"))[:6]]
    pictures.append(Image.new("RGB", (200, 120), (90, 140, 200)))  # no face
    one_by_one = [recognizer.recognize(p).to_dict()["faces"] for p in pictures]
    together = [r.to_dict()["faces"] for r in recognizer.recognize_many(pictures)]
    assert _same(together, one_by_one), (together, one_by_one)
    assert sum(len(faces) for faces in together) > len(pictures)
    assert together[-1][0]["whole_picture"]
    assert recognizer.recognize_many(pictures[-1:], classify_whole=False)[0].faces == []


def _blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_faces_are_decided_on_one_blas_thread_and_the_process_keeps_its_own(
    recognizer: Recognizer, held_back: list[Path], monkeypatch: pytest.MonkeyPatch
):
    seen: list[int] = []
    distances = Centres.distances

    def spied(self: Centres, unit: np.ndarray) -> np.ndarray:
        seen.append(_blas_threads())
        return distances(self, unit)

    monkeypatch.setattr(Centres, "distances", spied)
    with threadpool_limits(limits=2, user_api="blas"):  # the process's own setting, whatever ran before
        recognizer.classify([load_image(held_back[0])])
        assert seen == [1] and _blas_threads() == 2


def test_the_fallback_svm_answers_the_faces_the_network_is_unsure_of_as_if_it_ran_for_all(
    recognizer: Recognizer, trained_bundle: Path, held_back: list[Path]
):
    logits, embedding = recognizer.embed([load_image(p) for p in held_back[:12]])
    logits[::3] = 0  # a flat softmax, below the routing threshold: the SVM answers those faces
    unit = l2_normalize(embedding)
    m = recognizer.manifest
    n = len(m.labels)
    svm = open_session(trained_bundle / FALLBACK_FILE)
    _, every_face = svm.run(None, {svm.get_inputs()[0].name: unit})
    centres = load_centres(trained_bundle, m.format_version)
    expected = route(pad_primary(logits, n), pad_labels(every_face, n), centres.distances(unit), n, m.thresholds)

    decisions = recognizer.decide(logits, embedding)
    assert [d.model.code for d in decisions] == expected.model.tolist()
    assert {d.model for d in decisions} == {Model.PRIMARY, Model.FALLBACK}
    assert [d.candidates[0].label for d in decisions] == [m.labels[i].id for i in expected.probs.argmax(1)]
    np.testing.assert_allclose([d.candidates[0].probability for d in decisions], expected.probs.max(1), rtol=1e-6)
