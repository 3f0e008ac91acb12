"""``darekana train base`` and bundles built on a frozen base network: resuming, the record and its split,
strict loading, and the bundle's model against the base network it was made from."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

import bench.card
from darekana.cli import main
from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.embeddings import load_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import load_image
from darekana.recognizer.layout import MODEL_FILE
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize, resize_square
from darekana.train.backbones import build_backbone, load_pretrained
from darekana.train.base import train_base, work_folder
from darekana.train.card import card_path, render
from darekana.train.configs import BaseConfig, FinetuneConfig, FitConfig, HeadConfig
from darekana.train.finetune import STATE_FILE, Trainer, ema_update
from darekana.train.fit import fit
from darekana.train.network import EMBEDDING, load_network, record_path
from darekana.train.shared import BASE_NETWORK, DATASETS, MOBILENET_V2_TRUNK
from darekana.train.slim import slim

SIZE = 48


@pytest.fixture(scope="module")
def four_characters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four animeface-10 characters, 24 crops each: a set small enough to train on in seconds."""
    root = tmp_path_factory.mktemp("faces")
    for folder in sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())[:4]:
        (root / folder.name).mkdir()
        for path in sorted(folder.iterdir())[:24]:
            shutil.copyfile(path, root / folder.name / path.name)
    return root


@pytest.fixture(scope="module")
def base(four_characters: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "base.onnx"
    config = BaseConfig(img_size=SIZE, hold_out=("003_fate_testarossa",), finetune=_quick(epochs=2))
    result = train_base([four_characters], out, config)
    assert result.network == out and result.epochs_done == 2
    return out


def _quick(epochs: int) -> FinetuneConfig:
    return replace(BaseConfig().finetune, epochs=epochs, batch_size=16)


def _trainer(checkpoints: Path, epochs: int, taught: str = "", **tune: Any) -> Trainer:
    torch.manual_seed(0)
    net = build_backbone("mobilenet_v2", 3)
    load_pretrained(net, str(MOBILENET_V2_TRUNK))
    if not taught:
        return Trainer(net, IMAGENET_MEAN, IMAGENET_STD, replace(_quick(epochs), **tune), checkpoints)
    settings = replace(_quick(epochs), freeze_stem=False, distil_mix=taught == "mixed", **tune)
    return Trainer(slim(net, 0.5, 3), IMAGENET_MEAN, IMAGENET_STD, settings, checkpoints, teacher=net)


@pytest.mark.parametrize(
    ("exposed", "taught", "tune"),
    [
        (False, "", {}),
        (True, "", {}),
        (False, "plain", {}),
        (False, "mixed", {}),
        (False, "", {"triplet_weight": 1.0, "faces_per_character": 4}),
        (False, "", {"erase": 0.5}),
        (False, "", {"head": HeadConfig(kind="bnneck"), "triplet_weight": 1.0}),
        (False, "", {"head": HeadConfig(kind="bnneck"), "triplet_weight": 1.0, "look_alikes": 2, "balance": 1.0}),
        (False, "", {"head": HeadConfig(kind="bnneck"), "triplet_weight": 1.0, "ema": 0.9}),
    ],
    ids=[
        "plain",
        "outlier exposure",
        "slim",
        "slim, half mixed",
        "triplet",
        "random erasing",
        "bnneck",
        "look-alikes, balanced",
        "weights averaged",
    ],
)
def test_resuming_a_stopped_run_gives_the_same_next_epoch_as_not_stopping(
    tmp_path: Path, exposed: bool, taught: str, tune: dict[str, Any]
):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 3
    outliers = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8) if exposed else None
    straight = _trainer(tmp_path / "straight", 2, taught, **tune)
    whole = straight.fit(x, y, x[:8], y[:8], resume=True, outliers=outliers)

    stopped = _trainer(tmp_path / "stopped", 2, taught, **tune)
    assert not stopped.fit(x, y, x[:8], y[:8], resume=True, until=1, outliers=outliers).finished
    resumed_trainer = _trainer(
        tmp_path / "stopped", 2, taught, **tune
    )  # a new process: fresh network, optimizer, generators
    resumed = resumed_trainer.fit(x, y, x[:8], y[:8], resume=True, outliers=outliers)

    assert resumed.finished and [h.epoch for h in resumed.history] == [1, 2]
    assert [h.loss for h in resumed.history] == [h.loss for h in whole.history]
    for (name, a), b in zip(straight.net.state_dict().items(), resumed_trainer.net.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_with_weights_averaged_keeps_and_validates_the_average_not_the_last_step_s_weights(tmp_path: Path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 3
    trainer = _trainer(tmp_path, 1, ema=0.9)
    result = trainer.fit(x, y, x[:8], y[:8])
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    live, average = state["net"], {k.removeprefix("module."): v for k, v in state["average"].items()}
    kept = trainer.net.state_dict()
    assert all(torch.equal(kept[name], average[name]) for name in kept)
    assert not torch.equal(kept["classifier.1.weight"], live["classifier.1.weight"])
    assert torch.equal(kept["features.0.0.weight"], live["features.0.0.weight"])  # the frozen stem: one value
    assert result.best_val_accuracy == float((trainer.logits(x[:8]).argmax(1) == y[:8]).mean())


def test_the_average_starts_at_the_weights_and_follows_them_more_slowly_as_steps_accrue():
    update = ema_update(0.9)
    mean, count = torch.zeros(3), torch.tensor(5)
    update([mean, count], [torch.ones(3), torch.tensor(7)], torch.tensor(0))
    assert torch.allclose(mean, torch.full((3,), 0.9)) and count == 7  # (1 + 0) / (10 + 0) = 0.1 kept
    mean.zero_()
    update([mean], [torch.ones(3)], torch.tensor(1000))
    assert torch.allclose(mean, torch.full((3,), 0.1))  # the decay itself, once the ramp passes it


def test_the_record_lists_what_the_network_saw_and_holds_the_held_out_characters_out(base: Path):
    record = json.loads(record_path(base).read_text())
    network = load_network(base)
    assert network.input_size == SIZE and record["held_out"] == ["003_fate_testarossa"]
    assert len(record["characters"]) == 3 and "003_fate_testarossa" not in record["characters"]
    trained_on = set(record["trained_on"])
    train = {digest for digest, part in record["split"].items() if part == "train"}
    assert trained_on < train and len(trained_on) == record["faces"]["trained_on"]
    assert len(record["split"]) == 96  # every face of the data has its part, held-out characters' too
    assert (work_folder(base) / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_the_network_loads_strictly_into_torch_and_embeds_as_its_graph_does(base: Path):
    net = build_backbone("mobilenet_v2", 3)
    report = load_pretrained(net, str(base))
    assert report.trunk_missing == [] and report.unexpected == []
    faces = np.stack(
        [resize_square(load_image(p), SIZE) for p in sorted((DATASETS / "animeface-10").rglob("*.png"))[:4]]
    )
    graph = open_session(base).run([EMBEDDING], {"image": normalize(faces, IMAGENET_MEAN, IMAGENET_STD)})[0]
    with torch.inference_mode():
        torch_embedding = net.eval().embed(torch.from_numpy(normalize(faces, IMAGENET_MEAN, IMAGENET_STD))).numpy()
    np.testing.assert_allclose(graph, torch_embedding, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("frozen", [True, False], ids=["stem frozen", "--no-freeze-stem"])
def test_train_base_keeps_the_trunk_s_stem_unless_told_to_train_it(four_characters: Path, tmp_path: Path, frozen: bool):
    out = tmp_path / "stem.onnx"
    args = ["train", "base", str(four_characters), "--out", str(out), "--img-size", str(SIZE), "--epochs", "1"]
    assert main(args + ["--batch-size", "16"] + ([] if frozen else ["--no-freeze-stem"])) == 0
    trunk, trained = build_backbone("mobilenet_v2", 4), build_backbone("mobilenet_v2", 4)
    load_pretrained(trunk, str(MOBILENET_V2_TRUNK))
    load_pretrained(trained, str(out))
    first, later = trunk.features[0][0].weight, trunk.features[7].conv[0][0].weight  # in the stem; just after it
    assert torch.equal(first, trained.features[0][0].weight) is frozen
    assert not torch.equal(later, trained.features[7].conv[0][0].weight)
    assert json.loads(record_path(out).read_text())["recipe"]["finetune"]["freeze_stem"] is frozen


def test_an_efficientnet_lite_network_reloads_without_refolding_its_stem(four_characters: Path, tmp_path: Path):
    """Its ImageNet checkpoint's normalisation is folded in once, from the .pth; a base network read back from
    its graph already carries it, and embeds in torch as the graph does."""
    out = tmp_path / "lite.onnx"
    train_base([four_characters], out, BaseConfig(arch="efficientnet_lite0", img_size=SIZE, finetune=_quick(epochs=1)))
    net = build_backbone("efficientnet_lite0", 4)
    report = load_pretrained(net, str(out))
    assert report.trunk_missing == [] and report.unexpected == []
    faces = normalize(
        np.stack([resize_square(load_image(p), SIZE) for p in sorted((DATASETS / "animeface-10").rglob("*.png"))[:4]]),
        IMAGENET_MEAN,
        IMAGENET_STD,
    )
    graph = open_session(out).run([EMBEDDING], {"image": faces})[0]
    with torch.inference_mode():
        torch_embedding = net.eval().embed(torch.from_numpy(faces)).numpy()
    np.testing.assert_allclose(graph, torch_embedding, atol=1e-4, rtol=1e-4)


def test_a_network_that_does_not_match_its_record_is_refused(base: Path, tmp_path: Path):
    copy = tmp_path / "base.onnx"
    copy.write_bytes(base.read_bytes() + b"\0")
    record_path(copy).write_text(record_path(base).read_text())
    with pytest.raises(ValueError, match="does not match its record"):
        load_network(copy)
    record_path(copy).unlink()
    with pytest.raises(ValueError, match="record .* cannot be read"):
        load_network(copy)


def test_a_resumed_run_of_another_recipe_is_refused(base: Path, four_characters: Path):
    with pytest.raises(ValueError, match="another recipe"):
        train_base([four_characters], base, BaseConfig(img_size=SIZE + 16, finetune=_quick(epochs=2)))


def test_a_resumed_run_whose_faces_would_split_otherwise_is_refused(base: Path, four_characters: Path, tmp_path: Path):
    out = tmp_path / "base.onnx"
    shutil.copytree(work_folder(base), work_folder(out))
    claim = work_folder(out) / "split.sha256"
    claim.write_text("0" * 64, encoding="utf-8")  # as if the code that splits faces had changed since it began
    config = BaseConfig(img_size=SIZE, hold_out=("003_fate_testarossa",), finetune=_quick(epochs=2))
    with pytest.raises(ValueError, match="another split"):
        train_base([four_characters], out, config)
    assert claim.read_text(encoding="utf-8") == "0" * 64 and not out.exists()


def test_a_network_started_from_another_keeps_its_split_and_counts_its_faces_as_trained_on(
    base: Path, four_characters: Path, tmp_path: Path
):
    parent = json.loads(record_path(base).read_text())
    dropped = parent["characters"][0]  # trained on by the first run only
    three = tmp_path / "faces"
    shutil.copytree(four_characters, three, ignore=lambda folder, names: [n for n in names if n == dropped])
    out = tmp_path / "every.onnx"
    # Another split seed, which alone would split the faces otherwise; the held-out character trained on now.
    config = BaseConfig(img_size=SIZE + 16, pretrained=str(base), seed=1, finetune=_quick(epochs=1))
    train_base([three], out, config)
    record = json.loads(record_path(out).read_text())
    assert record["split"] == {d: part for d, part in parent["split"].items() if d in record["split"]}
    assert record["held_out"] == [] and "003_fate_testarossa" in record["characters"] and len(record["split"]) == 72
    assert set(parent["trained_on"]) < set(record["trained_on"])  # the dropped character's faces stay listed
    assert record["faces"]["trained_on"] == len(record["trained_on"])
    assert record["started_from"]["sha256"] == parent["sha256"]
    assert record["started_from"]["recipe"]["img_size"] == SIZE and record["input_size"] == SIZE + 16
    assert f"**Started from** `base.onnx` (sha256 `{parent['sha256'][:12]}`): 2 epochs at {SIZE} px" in render(record)


def test_a_network_cannot_hold_out_a_character_the_one_it_starts_from_trained_on(
    base: Path, four_characters: Path, tmp_path: Path
):
    trained = json.loads(record_path(base).read_text())["characters"][0]
    config = BaseConfig(img_size=SIZE, pretrained=str(base), hold_out=(trained,), finetune=_quick(epochs=1))
    with pytest.raises(ValueError, match=f"trained on {trained}"):
        train_base([four_characters], tmp_path / "leaky.onnx", config)


@pytest.fixture(scope="module")
def frozen_bundle(base: Path, four_characters: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "frozen"
    return fit([four_characters], out, FitConfig(network=str(base))).bundle


def test_a_frozen_bundle_calibrates_and_tests_on_faces_its_network_never_saw(base: Path, frozen_bundle: Path):
    record = json.loads(record_path(base).read_text())
    split = json.loads((frozen_bundle / "split.json").read_text())
    for part in ("train", "val", "calibration", "test"):
        assert set(split[f"{part}_sha256"]) == {d for d, p in record["split"].items() if p == part}, part
    held_back = set(split["calibration_sha256"]) | set(split["test_sha256"])
    assert held_back and not held_back & set(record["trained_on"])
    manifest = load_manifest(frozen_bundle)
    assert manifest.input_size == SIZE and manifest.training["network"]["sha256"] == record["sha256"]
    assert "finetune" not in manifest.training and manifest.training["head"]["kind"] == "linear"


def _int8_weights(model: Path) -> int:
    return sum(i.data_type == onnx.TensorProto.INT8 for i in onnx.load(str(model)).graph.initializer)


def test_a_frozen_bundle_serves_its_network_in_int8_and_mirrored_unless_asked_not_to(
    base: Path, four_characters: Path, frozen_bundle: Path, tmp_path: Path
):
    served = load_manifest(frozen_bundle).training
    assert served["precision"] == "int8 with 7-bit weights" and served["mirror"]
    assert _int8_weights(frozen_bundle / MODEL_FILE)
    exact = fit([four_characters], tmp_path / "b", FitConfig(network=str(base), int8=False, mirror=False)).bundle
    plain = load_manifest(exact).training
    assert plain["precision"] == "float32" and not plain["mirror"] and not _int8_weights(exact / MODEL_FILE)


def test_a_frozen_bundle_answers_a_real_crop_as_the_fit_scored_it(frozen_bundle: Path):
    """The logits fit kept for a test face (the head on the base network, in numpy) are what the bundle's
    own model and ``Recognizer`` give for the same crop."""
    manifest = load_manifest(frozen_bundle)
    split = json.loads((frozen_bundle / "split.json").read_text())
    stored = load_embeddings(frozen_bundle, manifest.n_network, manifest.embedding_dim)
    assert stored is not None
    path = Path(split["test"][0])
    face = resize_square(load_image(path), SIZE)[None]
    logits, embedding = open_session(frozen_bundle / MODEL_FILE).run(
        ["logits", "embedding"], {"image": normalize(face, manifest.mean, manifest.std)}
    )
    np.testing.assert_allclose(logits[0], stored["test"].logits[0], atol=1e-3)
    recognizer = Recognizer(frozen_bundle)
    served = recognizer.classify([load_image(path)])[0]
    kept = recognizer.decide(stored["test"].logits[:1], stored["test"].unit[:1])[0]
    assert [c.label for c in served.candidates] == [c.label for c in kept.candidates]
    assert served.verdict is kept.verdict
    # the bundle keeps its embeddings in float16
    np.testing.assert_allclose(
        [c.probability for c in served.candidates], [c.probability for c in kept.candidates], atol=1e-4
    )


def test_fit_refuses_another_input_size_for_a_frozen_network(base: Path, four_characters: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=f"takes {SIZE} px faces"):
        fit([four_characters], tmp_path / "b", FitConfig(network=str(base), img_size=SIZE * 2))


@pytest.mark.skipif(not BASE_NETWORK.is_file(), reason="no base network shipped")
def test_the_shipped_network_loads_strictly_and_matches_its_recorded_checksum():
    network = load_network(BASE_NETWORK)  # checks the file's sha256 against the record's
    assert network.sha256 == network.record["sha256"]
    net = build_backbone(network.record["architecture"], 1, hidden=network.record.get("hidden"))
    report = load_pretrained(net, str(BASE_NETWORK))
    assert report.trunk_missing == [] and report.unexpected == []


def test_the_model_card_is_written_from_the_record_and_carries_the_report_s_figures(
    base: Path, frozen_bundle: Path, tmp_path: Path
):
    network = tmp_path / "base.onnx"
    shutil.copyfile(base, network)
    shutil.copyfile(record_path(base), record_path(network))
    report = json.loads((frozen_bundle / "report" / "report.json").read_text())
    figures = {"top1": report["top1"], "promises": report["promises"]}
    (tmp_path / "figures.json").write_text("progress on stderr\n" + json.dumps(figures) + "\n")
    assert main(["train", "card", str(network), "--figures", "four characters", str(tmp_path / "figures.json")]) == 0
    card = card_path(network).read_text()
    assert card == render(json.loads(record_path(network).read_text()))
    assert f"| top1 | {report['top1']} |" in card
    assert f"| promises / false_rejection / delivered | {report['promises']['false_rejection']['delivered']} |" in card
    assert load_network(network).sha256 in card and "held out (003_fate_testarossa)" in card
    assert "a batch-hard triplet loss on the unit embedding beside the classification loss, weight 1.0" in card


def test_the_model_card_names_the_head_random_erasing_weight_averaging_and_how_batches_are_drawn(base: Path):
    record = json.loads(record_path(base).read_text())
    assert "a BNNeck head" in render(record) and "random erasing" not in render(record)  # the recipe's default
    assert "look" not in render(record) and "groups of" not in render(record)
    assert "the last epoch is kept" in render(record)
    tune = {"head": {"kind": "linear"}, "erase": 0.5, "look_alikes": 4, "balance": 0.5, "ema": 0.998}
    record["recipe"]["finetune"] |= tune
    card = render(record)
    assert "the last epoch's moving average of the weights (decay 0.998 per step) is kept" in card
    assert "linear head" in card and "BNNeck" not in card and "random erasing of 50% of the faces" in card
    assert "in groups of 4 characters with the nearest classifier weights" in card
    assert "a character with n faces given n^0.5 of each epoch" in card


@pytest.mark.skipif(not BASE_NETWORK.is_file(), reason="no base network shipped")
def test_the_shipped_model_card_is_its_record_s():
    assert card_path(BASE_NETWORK).read_text() == render(load_network(BASE_NETWORK).record)


@pytest.mark.skipif(not BASE_NETWORK.is_file(), reason="no base network shipped")
def test_the_shipped_model_card_s_figures_are_the_kept_benchmark_lines():
    kept = Path(bench.card.__file__).parent / "results" / "anime-base"
    accuracy = json.loads((kept / "accuracy.json").read_text())
    draws = bench.card.draws([json.loads(path.read_text()) for path in kept.glob("draw-*/twin-*.json")])
    record = load_network(BASE_NETWORK).record
    assert accuracy["network"]["sha256"] == record["sha256"]  # measured on the network shipped, not another
    seeds = {draw: [twin["network"]["seed"] for twin in twins] for draw, twins in draws.items()}
    assert seeds == {0: [0, 1], 1: [0, 1]}  # two draws of characters, two training seeds each
    assert draws[0][0]["held_out"] != draws[1][0]["held_out"]
    assert record["evaluation"]["Bundles built on it"] == bench.card.bundles(accuracy)
    assert record["evaluation"]["Characters it never saw"] == bench.card.never_saw(draws[0])
    assert record["evaluation"]["Characters it never saw: another draw"] == bench.card.never_saw(draws[1])


def test_a_network_trained_with_outliers_records_them(four_characters: Path, tmp_path: Path):
    strangers = tmp_path / "strangers"
    strangers.mkdir()
    for path in sorted((DATASETS / "hololive-20").rglob("*.jpg"))[:5]:
        shutil.copyfile(path, strangers / path.name)
    out = tmp_path / "exposed.onnx"
    train_base([four_characters], out, BaseConfig(img_size=SIZE, outliers=(str(strangers),), finetune=_quick(1)))
    record = json.loads(record_path(out).read_text())
    assert record["faces"]["outliers"] == 5 and record["recipe"]["outliers"] == [str(strangers)]
    assert "outlier exposure: 5 faces of no known character (strangers) taught a uniform answer, weight 0.5" in render(
        record
    )


def _embeddings(network: Path, faces: np.ndarray) -> np.ndarray:
    return open_session(network).run([EMBEDDING], {"image": normalize(faces, IMAGENET_MEAN, IMAGENET_STD)})[0]


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def test_a_slim_network_is_cut_from_its_teacher_keeps_its_split_and_learns_its_embedding(
    base: Path, four_characters: Path, tmp_path: Path
):
    out = tmp_path / "slim.onnx"
    held = ("003_fate_testarossa",)
    config = BaseConfig(img_size=SIZE, pretrained=str(base), hold_out=held, slim=0.5, finetune=_quick(epochs=8))
    train_base([four_characters], out, config)
    record, teacher = (json.loads(record_path(n).read_text()) for n in (out, base))
    assert sum(record["hidden"]) < 0.55 * sum(teacher["hidden"]) and record["recipe"]["slim"] == 0.5
    assert record["split"] == teacher["split"] and record["trained_on"] == teacher["trained_on"]
    assert "slimmed to 0.5 of the hidden channels" in render(record)

    net = build_backbone("mobilenet_v2", 3, hidden=record["hidden"])  # as train fit loads it to fine-tune
    report = load_pretrained(net, str(out))
    assert report.trunk_missing == [] and report.unexpected == []
    faces = np.stack([resize_square(load_image(p), SIZE) for p in sorted((four_characters / held[0]).iterdir())[:16]])
    full = build_backbone("mobilenet_v2", 3)
    load_pretrained(full, str(base))
    with torch.inference_mode():
        cut = slim(full.eval(), 0.5, 3).eval().embed(torch.from_numpy(normalize(faces, IMAGENET_MEAN, IMAGENET_STD)))
    taught = _agreement(_embeddings(out, faces), _embeddings(base, faces))
    assert taught > _agreement(cut.numpy(), _embeddings(base, faces)) + 0.03  # on a character neither trained on


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"slim": 0.5}, "--slim cuts a MobileNetV2 base network"),
        ({"slim": 1.5}, "--slim must be in"),
        ({"slim": 0.0}, "--slim must be in"),
        ({"finetune": replace(_quick(1), distil_mix=True)}, "--distil-mix .* needs --slim"),
    ],
    ids=["no base network", "above 1", "zero", "blending without a teacher"],
)
def test_a_slimming_it_cannot_do_is_refused_before_reading_faces(tmp_path: Path, settings: dict, refusal: str):
    config = replace(BaseConfig(img_size=SIZE, finetune=_quick(1)), **settings)
    with pytest.raises(ValueError, match=refusal):
        train_base([tmp_path / "no faces here"], tmp_path / "slim.onnx", config)


def test_slimming_refuses_a_cosine_head(base: Path, tmp_path: Path):
    head = replace(_quick(1).head, kind="cosface")
    config = BaseConfig(img_size=SIZE, pretrained=str(base), slim=0.5, finetune=replace(_quick(1), head=head))
    with pytest.raises(ValueError, match="cosine head"):
        train_base([tmp_path / "no faces here"], tmp_path / "slim.onnx", config)
