"""Classification figures and the files people read: report.json, report.md and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def confusion(targets: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) class pairs: rows are the true characters, every class a row."""
    if not len(targets):  # sklearn refuses to count nothing
        return np.zeros((n_classes, n_classes), np.int64)
    return confusion_matrix(targets, predicted, labels=np.arange(n_classes))


def confused_pairs(matrix: np.ndarray, top: int) -> list[tuple[int, int, int]]:
    """The ``top`` pairs of classes most mixed up (either way): (errors, a, b), most errors first."""
    off = matrix + matrix.T
    n = len(off)
    pairs = [(int(off[a, b]), a, b) for a in range(n) for b in range(a + 1, n) if off[a, b]]
    return sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))[:top]


def classification_figures(
    targets: np.ndarray,
    ranked: np.ndarray,
    names: Sequence[str],
    top_pairs: int = 10,
) -> dict[str, Any]:
    """top-1, top-5, per-character precision/recall and the most-confused pairs.

    ``ranked``: (N, k) class indices, best first, for each face.
    """
    n_classes = len(names)
    predicted = ranked[:, 0]
    matrix = confusion(targets, predicted, n_classes)
    support = matrix.sum(axis=1)
    precision, recall = np.zeros(n_classes), np.zeros(n_classes)
    if len(targets):
        precision, recall, _, _ = precision_recall_fscore_support(
            targets, predicted, labels=np.arange(n_classes), zero_division=0
        )
    per_class = {
        name: {"n": int(support[c]), "precision": float(precision[c]), "recall": float(recall[c])}
        for c, name in enumerate(names)
    }
    return {
        "n": int(len(targets)),
        "top1": float((predicted == targets).mean()) if len(targets) else 0.0,
        "top5": float((ranked[:, :5] == targets[:, None]).any(1).mean()) if len(targets) else 0.0,
        "per_class": per_class,
        "confused_pairs": [
            {"a": names[a], "b": names[b], "errors": n} for n, a, b in confused_pairs(matrix, top_pairs)
        ],
        "confusion_matrix": matrix.tolist(),
    }


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path, title: str = "Confusion matrix") -> Path:
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    side = max(5.0, 0.35 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(names) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(
                    j,
                    i,
                    str(int(count)),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if rows[i, j] > 0.5 else "black",
                )
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true character")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_history(history: Sequence[dict[str, float]], path: Path) -> Path:
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [h["loss"] for h in history], "o-", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    other = ax.twinx()
    other.plot(epochs, [h["val_accuracy"] for h in history], "s-", color="tab:green", label="validation top-1")
    other.set_ylabel("validation top-1")
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(confidence: np.ndarray, right: np.ndarray, confident: float, path: Path, bins: int = 10) -> Path:
    """A reliability diagram: how often answers are right against the probability given them, per bin, with
    the number of answers in each and the ``confident`` threshold."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    accuracy = np.bincount(which, weights=right.astype(float), minlength=bins) / np.maximum(counts, 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="calibrated")
    shown = counts > 0
    ax.bar(centres[shown], accuracy[shown], width=1 / bins * 0.9, alpha=0.7, label="share right")
    for x, y, n in zip(centres[shown], accuracy[shown], counts[shown]):
        ax.text(x, min(y + 0.02, 0.97), str(n), ha="center", fontsize=7)
    ax.axvline(confident, color="tab:green", label=f"confident ≥ {confident:.2f}")
    ax.set_xlabel("probability of the answer")
    ax.set_ylabel("answers right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(figures: dict[str, Any], directory: Path, title: str) -> None:
    """``report.json`` (everything), ``report.md`` (what a person reads) and ``confusion.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    names = list(figures["per_class"])
    if names:
        plot_confusion(np.array(figures["confusion_matrix"]), names, directory / "confusion.png")
    (directory / "report.md").write_text(markdown(figures, title), encoding="utf-8")


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def markdown(figures: dict[str, Any], title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"- faces: {figures['n']}",
        f"- top-1: {figures['top1']:.4f}",
        f"- top-5: {figures['top5']:.4f}",
    ]
    for key in (
        "unknown_n",
        "unknown_rejection_rate",
        "known_false_rejection_rate",
        "known_false_rejection_per_character",
    ):
        if key in figures:
            lines.append(
                f"- {key.replace('_', ' ')}: {figures[key]:.4g}"
                if isinstance(figures[key], float)
                else f"- {key.replace('_', ' ')}: {figures[key]}"
            )
    if "promises" in figures:
        lines += [
            "",
            "| promise | target | on calibration | delivered (95 % interval, n) | held |",
            "|---|---|---|---|---|",
        ]
        for name, p in figures["promises"].items():
            low, high = p["interval"]
            lines.append(
                f"| {name.replace('_', ' ')} | {p['promised']:.2f} | {p['calibration']:.3f} | "
                f"{p['delivered']:.3f} ({low:.3f}–{high:.3f}, {p['n']}) | {'yes' if p['held'] else 'no'} |"
            )
        lines += ["", "![reliability diagram](reliability.png)"]
    lines += [
        "",
        "![confusion matrix](confusion.png)",
        "",
        "| character | n | precision | recall | called unknown |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v['n']} | {v['precision']:.3f} | {v['recall']:.3f} | {_share(v.get('called_unknown'))} |"
        for name, v in figures["per_class"].items()
    ]
    if figures["confused_pairs"]:
        lines += ["", "Most confused pairs:", ""] + [
            f"- {p['a']} ↔ {p['b']}: {p['errors']} errors" for p in figures["confused_pairs"]
        ]
    return "\n".join(lines) + "\n"
