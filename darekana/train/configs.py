"""What each training command can be told, and its defaults: the one place for them, read by the
``darekana`` command line (which imports no torch to build its help) and by the trainers."""

from __future__ import annotations

from dataclasses import dataclass, field

from darekana.recognizer.detect import FACEBOXES

from .shared import FACEBOXES_WEIGHTS

ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2", "efficientnet_lite0")
FINETUNE_ARCHS = ARCHITECTURES[:4]  # the study's networks
COSINE_HEADS = ("cosface", "arcface")
HEADS = ("linear", "bnneck", *COSINE_HEADS)
# Shares of the faces, split by source picture and near-duplicate group: validation stops training early;
# calibration, which neither training nor early stopping sees, chooses the thresholds; test checks what they
# promise. ``train base`` and ``train fit`` split alike, so a bundle's held-back faces are new to its network.
VAL_SHARE, CALIBRATION_SHARE, TEST_SHARE = 0.1, 0.15, 0.15
DEFAULT_INPUT_SIZE = 128  # faces' side when fine-tuning from ImageNet; a base network fixes its own
DEVICE = "auto"  # where networks train: "cpu", "cuda", or "auto" (cuda when a GPU is there)
# The bits of an int8 copy's weights (``darekana.train.quantize``): 7, as ONNX Runtime advises for x86 CPUs without
# VNNI, whose 16-bit sums of 8-bit products saturate (docs/benchmarks.md, "7-bit weights"); bundles and benchmark
# lines made with 8 say only "int8".
INT8_WEIGHT_BITS = 7
# ``train compare``: the largest loss in any gated figure that a new bundle may show and still pass.
COMPARE_TOLERANCE = 0.01


@dataclass
class HeadConfig:
    """The classification head. ``linear``: a plain linear layer on the pooled features. ``bnneck``: a
    BatchNorm (no shift) before a linear layer without bias (Luo et al., 2019, "Bag of Tricks and a Strong
    Baseline for Deep Person Re-identification"): the softmax reads normalised features while a triplet loss
    and the exported embedding keep the pooled ones, so the two losses do not pull one space two ways. ``cosface`` and
    ``arcface``: ``scale``·cos between the l2-normalised embedding and normalised class weights, with the
    target's logit lowered by ``margin`` (CosFace: cos − m; ArcFace: cos(θ + m)) in training only, so faces
    of one character gather tightly on the sphere, and characters the network never saw get room of their
    own. ``projection``: the width of a Linear + BatchNorm embedding before a cosine head (0: none, the
    pooled features are the embedding)."""

    kind: str = "linear"
    scale: float = 30.0
    margin: float = 0.25
    projection: int = 0


@dataclass
class FinetuneConfig:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    patience: int = 3
    keep_best: bool = True  # the epoch of best validation top-1; False: the last epoch, no early stopping
    freeze_stem: bool = True
    seed: int = 0
    recipe: str = "production"  # or "study"
    min_area: float = 0.75  # random resized crop keeps at least this share of the picture
    jitter: bool = True  # brightness/contrast augmentation
    erase: float = 0.0  # share of training faces with a random rectangle set to the mean colour
    device: str = DEVICE
    head: HeadConfig = field(default_factory=HeadConfig)
    # Outlier exposure, when the trainer is given faces of no known character: each batch adds this many
    # of them, and their cross-entropy to the uniform distribution, times ``outlier_weight``, joins the loss.
    outliers_per_batch: int = 16
    outlier_weight: float = 0.5
    # Distillation, when the trainer is given a teacher network (``train base --slim``): the mean cosine
    # distance of the two embeddings, times this, joins the loss.
    distil_weight: float = 10.0
    # With a teacher: half of each batch's faces blended pairwise (mixup) and taught the teacher's embedding only.
    distil_mix: bool = False
    # Batch-hard triplet loss on the unit embedding (:mod:`darekana.train.metric`), times this, joins the loss
    # (0: none); its batches then hold ``faces_per_character`` faces of each of their characters.
    triplet_weight: float = 0.0
    triplet_margin: float = 0.3
    faces_per_character: int = 4
    # With the triplet loss: runs of characters come in groups of this many look-alikes (nearest classifier
    # weights, :func:`darekana.train.metric.look_alike_order`); 0: characters drawn at random.
    look_alikes: int = 0
    # With the triplet loss: a character with n training faces gets a share of each epoch in proportion to
    # n^(1 - balance): 0, each face once; 1, every character alike (hololive-20's have 7× moeimouto-85's faces).
    balance: float = 0.0
    # Above 0: validate, keep and export an exponential moving average of the weights at this decay per step
    # (ramped up over the first steps) rather than the weights themselves.
    ema: float = 0.0

    @classmethod
    def study(cls, epochs: int = 25, **overrides) -> FinetuneConfig:
        """The study's recipe: SGD, StepLR 7/0.1, no label smoothing, crop 8–100 %, no early stopping."""
        settings = dict(
            epochs=epochs,
            lr=1e-3,
            weight_decay=0.0,
            label_smoothing=0.0,
            patience=epochs + 1,
            recipe="study",
            min_area=0.08,
            jitter=False,
            batch_size=32,
        )
        return cls(**{**settings, **overrides})


@dataclass
class FitConfig:
    arch: str = "mobilenet_v2"
    # URL, file, "none", or "auto": the offline ImageNet trunk of the architecture when present
    pretrained: str = "auto"
    # The base network (``train base``) to build on: "auto", the one darekana ships when present; a file; or
    # "none": fine-tune ``pretrained`` instead. ``finetune_network``: fine-tune the base network too, rather
    # than keep it frozen and fit only the head, fallback, centres and thresholds on its embeddings.
    network: str = "auto"
    finetune_network: bool = False
    # A frozen base network serves in int8 (``darekana.train.quantize``): a face answered in 0.66 of the time on one
    # core, the answers as good (docs/benchmarks.md, "int8 faces"). Fine-tuned networks stay float32.
    int8: bool = True
    # ... reading each face with its mirror image too (``darekana.train.mirror``): on all four held-out twins it named
    # characters the network never saw better from 1, 5 and 20 crops, and rejected more of them on three, for 1.15
    # times the float32 time per face with both (docs/benchmarks.md, "int8 faces").
    mirror: bool = True
    img_size: int = 0  # 0: the base network's input size, or DEFAULT_INPUT_SIZE without one
    val: float = VAL_SHARE
    calibration: float = CALIBRATION_SHARE
    test: float = TEST_SHARE
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    aliases: dict[str, str] = field(default_factory=dict)  # other names -> character (see darekana.train.data.scan)
    test_split_of: str | None = None  # an earlier bundle whose test faces stay the test set
    detector: str = FACEBOXES  # or ANIMEFACE
    detector_model: str | None = None  # a FaceBoxes ONNX file (``train detector``); None: the shipped one

    @property
    def precision(self) -> str:
        """How a frozen base network is served, as the manifest's training record and benchmark lines say it."""
        return f"int8 with {INT8_WEIGHT_BITS}-bit weights" if self.int8 else "float32"


def _base_recipe() -> FinetuneConfig:
    """The shipped network's recipe: 8 epochs with the triplet loss named characters the network never saw from
    a few crops better than 24 epochs, with or without it (docs/benchmarks.md, "Distances trained too"), and a
    BNNeck better still on both held-out twins ("The BNNeck again, with relative distances"); each character's
    share of an epoch as the square root of its faces named the 115 better ("Epochs shared by the square root")."""
    return FinetuneConfig(
        epochs=8, min_area=0.6, keep_best=False, triplet_weight=1.0, head=HeadConfig(kind="bnneck"), balance=0.5
    )


@dataclass
class BaseConfig:
    """``darekana train base``: the embedding network's recipe (see ``darekana.train.base``). The schedule
    runs to its last epoch; ``hold_out`` names characters left out of training, to measure the network on
    characters it never saw."""

    arch: str = "mobilenet_v2"
    pretrained: str = "auto"
    # 192 px rejects characters the network never saw more often than 160 px did (53-60 % against 46-51 % on
    # four held-out twins, each better) for a third more time per face (docs/benchmarks.md, "192 px faces shipped").
    img_size: int = 192
    hold_out: tuple[str, ...] = ()
    outliers: tuple[str, ...] = ()  # folders of faces of no known character (darekana.train.outliers)
    # Below 1: a MobileNetV2 with this share of the hidden channels of the network it starts from
    # (``pretrained``, a base network), taught that network's embedding (darekana.train.slim).
    slim: float = 1.0
    seed: int = 0  # the split's; the training's is ``finetune.seed``
    val: float = VAL_SHARE
    calibration: float = CALIBRATION_SHARE
    test: float = TEST_SHARE
    finetune: FinetuneConfig = field(default_factory=_base_recipe)


@dataclass
class DetectorTrainConfig:
    epochs: int = 30
    batch_size: int = 16
    size: int = 512  # training crops are resized to this square
    lr: float = 1e-3
    weight_decay: float = 5e-4
    validation: float = 0.15  # of the training pictures, to pick the best epoch
    evaluate_every: int = 5
    seed: int = 0
    weights: str = str(FACEBOXES_WEIGHTS)
    match_iou: float = 0.35
    negatives_per_positive: int = 7


@dataclass
class StudyConfig:
    quick: bool = False
    backbone: str = "resnet18"
    pretrained: str = "auto"  # URL, file, "none", or "auto": torchvision weights when cached locally
    finetune_archs: tuple[str, ...] = FINETUNE_ARCHS
    epochs: int = 0  # study recipe epochs; 0: 25, or 2 with ``quick``
    img_size: int = 0  # fine-tuning input; 0: 224 as in the study, 112 with ``quick``
    production_epochs: int = 0  # 0: 8, or 3 with ``quick``
    device: str = DEVICE
    seed: int = 0

    def __post_init__(self) -> None:
        self.epochs = self.epochs or (2 if self.quick else 25)
        self.img_size = self.img_size or (112 if self.quick else 224)
        self.production_epochs = self.production_epochs or (3 if self.quick else 8)
