"""The study's report: tables next to the published figures, tuning curves, confusion matrices, and the
most-confused pairs of characters with example crops and their colour similarity."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import markdown
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from darekana.recognizer.images import load_image

from .data import Dataset, Split
from .report import confused_pairs, confusion, plot_confusion

PUBLISHED = """The study's own figures (Guan & Ge, nagadomi's ~170-character set and a 7-character set):
strategy 1, 0.2–0.55 test accuracy on the full set; strategy 2 (ImageNet ResNet-18 features), LR 0.71,
LDA 0.75, SVM (poly) 0.68 on the full set and 0.94 on the 7-character set; strategy 3 (fine-tuned ImageNet
ResNet-18/34/50/101), 0.97–0.99 on the 7-character set and ~0.90 on the full set."""


def classical_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| classifier | best parameters | train acc. | test acc. | fit s | predict s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["best_params"].items())
        lines.append(
            f"| {r['name']} | {params} | {r['train_accuracy']:.3f} | {r['test_accuracy']:.3f} "
            f"| {r['fit_seconds']:.2f} | {r['predict_seconds']:.3f} |"
        )
    return lines


def finetune_table(rows: list[dict[str, Any]], production: dict[str, Any]) -> list[str]:
    lines = [
        "| network | recipe | weights | epochs (best) | val acc. | train acc. | test acc. | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        weights = Path(r["pretrained"]).name if r["pretrained"].endswith(".pth") else r["pretrained"]
        lines.append(
            f"| {r['arch']} | study (SGD, StepLR 7/0.1) | {weights} | {r['epochs']} ({r['best_epoch']}) "
            f"| {r['val_accuracy']:.3f} | {r['train_accuracy']:.3f} | {r['test_accuracy']:.3f} "
            f"| {r['fit_seconds']:.0f} |"
        )
    lines.append(
        f"| **darekana production** | {production['recipe']} | ImageNet MobileNetV2 trunk | – | – | – "
        f"| **{production['test_accuracy']:.3f}** | {production['fit_seconds']:.0f} |"
    )
    return lines


def plot_tuning(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Cross-validated accuracy and fit time against each numeric hyperparameter, one panel per classifier."""
    fig, axes = plt.subplots(2, len(rows), figsize=(3.2 * len(rows), 5.6), squeeze=False)
    for column, row in enumerate(rows):
        top, bottom = axes[0, column], axes[1, column]
        top.set_title(row["name"])
        numeric = [
            k
            for k in row["search"][0]["params"]
            if all(
                isinstance(p["params"].get(k), (int, float)) and not isinstance(p["params"].get(k), bool)
                for p in row["search"]
                if k in p["params"]
            )
        ]
        varying = [k for k in numeric if len({p["params"].get(k) for p in row["search"]}) > 1]
        axis = varying[0] if varying else None
        series: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        for i, point in enumerate(row["search"]):
            params = point["params"]
            key = ", ".join(f"{k}={v}" for k, v in params.items() if k != axis) or "all"
            x = params.get(axis, i) if axis else i
            if x is None or not np.isfinite(x):  # an unbounded value (C = inf) has no place on the axis
                continue
            series[key].append((float(x), point["cv_accuracy"], point["fit_seconds"]))
        xs_all = [p[0] for points in series.values() for p in points]
        for key, points in series.items():
            points.sort()
            xs, acc, secs = zip(*points)
            top.plot(xs, acc, "o-", label=key[:28])
            bottom.plot(xs, secs, "o-")
        for ax in (top, bottom):
            ax.set_xlabel(axis or "grid point")
            if axis and xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 50:
                ax.set_xscale("log")
        top.set_ylabel("CV accuracy")
        bottom.set_ylabel("fit seconds")
        if len(series) <= 6:
            top.legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_pairs(
    pairs: list[tuple[int, int, int]],
    dataset: Dataset,
    test: np.ndarray,
    predictions: list[np.ndarray],
    names: list[str],
    path: Path,
    per_side: int = 3,
) -> Path:
    """For each pair, faces of either character that a model took for the other (the mistakes themselves),
    topped up with other test faces of that character when there are fewer mistakes than places."""
    fig, axes = plt.subplots(len(pairs), 2 * per_side, figsize=(2 * per_side * 1.3, len(pairs) * 1.6), squeeze=False)
    targets = dataset.targets[test]
    for row, (a, b, n) in enumerate(pairs):
        for side, (label, other) in enumerate(((a, b), (b, a))):
            mistaken = {
                int(i) for predicted in predictions for i in np.flatnonzero((targets == label) & (predicted == other))
            }
            rest = [int(i) for i in np.flatnonzero(targets == label) if int(i) not in mistaken]
            chosen = (sorted(mistaken) + rest)[:per_side]
            for k in range(per_side):
                ax = axes[row, side * per_side + k]
                ax.axis("off")
                if k < len(chosen):
                    ax.imshow(load_image(dataset.samples[test[chosen[k]]].path))
                    if chosen[k] in mistaken:
                        ax.set_xlabel("taken for the other", fontsize=6)
                        ax.axis("on")
                        ax.set_xticks([])
                        ax.set_yticks([])
                        for spine in ax.spines.values():
                            spine.set_edgecolor("red")
                            spine.set_linewidth(2)
                if k == 0:
                    ax.set_title(f"{names[label]}" + (f"  ({n} errors)" if side == 0 else ""), fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def best_classical(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: r["test_accuracy"])


def write_study_report(results: dict[str, Any], dataset: Dataset, parts: Split, out: Path) -> None:
    names = results["data"]["names"]
    n = len(names)
    targets = np.array(results["data"]["test_targets"])
    s1, s2 = results["strategy1"]["classifiers"], results["strategy2"]["classifiers"]
    plot_tuning(s1, out / "tuning-strategy1.png", "Strategy 1: hand-made features")
    plot_tuning(s2, out / "tuning-strategy2.png", f"Strategy 2: {results['strategy2']['features']}")
    best = {"strategy1": best_classical(s1), "strategy2": best_classical(s2)}
    if results["strategy3"]:
        best["strategy3"] = max(results["strategy3"], key=lambda r: r["test_accuracy"])
    predictions = {key: np.array(row["predicted"]) for key, row in best.items()}
    matrices = {key: confusion(targets, predicted, n) for key, predicted in predictions.items()}
    matrices["production"] = np.array(results["production"]["confusion_matrix"])
    for key, matrix in matrices.items():
        plot_confusion(matrix, names, out / f"confusion-{key}.png", f"Confusion matrix: {key}")
    # the pairs most mixed up, summed over the best models of all strategies: (a, b, errors)
    pairs = [(a, b, n) for n, a, b in confused_pairs(np.sum(list(matrices.values()), axis=0), 5)]
    if pairs:
        plot_pairs(pairs, dataset, parts.test, list(predictions.values()), names, out / "confused-pairs.png")
    similarity = np.array(results["colour_similarity"])
    upper = similarity[np.triu_indices(n, 1)]
    results["confused_pairs"] = [
        {
            "a": names[a],
            "b": names[b],
            "errors": e,
            "colour_similarity": float(similarity[a, b]),
            "colour_similarity_percentile": float((upper < similarity[a, b]).mean() * 100),
        }
        for a, b, e in pairs
    ]
    text = _markdown(results, list(matrices), pairs, float(np.median(upper)) if len(upper) else 0.0)
    (out / "report.md").write_text(text, encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables"])
    (out / "report.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>darekana study</title>"
        f"<style>body{{font-family:sans-serif;max-width:70em;margin:auto}}"
        f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}"
        f"img{{max-width:100%}}</style>{html}",
        encoding="utf-8",
    )


def _markdown(
    results: dict[str, Any], confusions: list[str], pairs: list[tuple[int, int, int]], median_similarity: float
) -> str:
    data = results["data"]
    mode = "quick" if results["config"]["quick"] else "full protocol"
    if not results["strategy3"]:
        mode += "; fine-tuning skipped"
    lines = [
        f"# The study re-run ({mode})",
        "",
        f"{len(data['names'])} characters; {data['train']} train, {data['val']} validation, {data['test']} "
        f"test faces (split keeps faces of one source picture together). Total time {results['seconds']:.0f} s.",
        "",
        PUBLISHED,
    ]
    weights = f"; weights: {Path(results['strategy2']['weights']).name}"
    for n, kind, more in ((1, "hand-made features", ""), (2, "frozen network features", weights)):
        strategy = results[f"strategy{n}"]
        lines += ["", f"## Table {n}: strategy {n}, {kind}", "", f"Features: {strategy['features']}{more}.", ""]
        lines += classical_table(strategy["classifiers"])
        lines += ["", f"![tuning curves, strategy {n}](tuning-strategy{n}.png)"]
    lines += ["", "## Table 3: fine-tuning, and darekana's production recipe", ""]
    lines += finetune_table(results["strategy3"], results["production"])
    lines += ["", "## Confusion matrices of the best model of each strategy", ""]
    lines += [f"![{key}](confusion-{key}.png)" for key in confusions]
    if pairs:
        lines += [
            "",
            "## Most-confused pairs",
            "",
            "Summed over the best models above. Colour similarity: cosine of the two characters' mean HSV "
            f"histograms (median over all pairs: {median_similarity:.3f}); the percentile says how many "
            "pairs are less alike in colour — the study found confusions between characters of the same "
            "hair colour.",
            "",
            "| pair | errors | colour similarity | percentile |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {p['a']} ↔ {p['b']} | {p['errors']} | {p['colour_similarity']:.3f} | "
            f"{p['colour_similarity_percentile']:.0f} |"
            for p in results["confused_pairs"]
        ]
        lines += ["", "![confused pairs](confused-pairs.png)"]
    return "\n".join(lines) + "\n"
