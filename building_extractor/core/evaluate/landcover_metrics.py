"""Land cover scores from a confusion matrix: per-class IoU, precision, recall and F1, mean IoU, overall accuracy.

The confusion matrix is summed window by window (rows: reference class, columns: predicted class), so a
raster of any size is scored in bounded memory; every score derives from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, class_count: int, known: np.ndarray | None = None
                     ) -> np.ndarray:
    """(class_count, class_count) int64 counts of reference class (row) against predicted class (column).

    ``truth`` and ``pred`` hold class indexes 0..class_count-1; pixels outside that range in ``truth`` or
    where ``known`` is False are not counted.
    """
    truth = truth.astype(np.int64).ravel()
    pred = pred.astype(np.int64).ravel()
    keep = (truth >= 0) & (truth < class_count) & (pred >= 0) & (pred < class_count)
    if known is not None:
        keep &= known.ravel()
    codes = truth[keep] * class_count + pred[keep]
    return np.bincount(codes, minlength=class_count * class_count).reshape(class_count, class_count)


def landcover_scores(matrix: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per-class IoU, precision, recall, F1 and pixel counts, mean IoU (over classes present in the reference or
    the prediction), overall accuracy and the matrix itself."""
    matrix = np.asarray(matrix, np.int64)
    hits = np.diag(matrix).astype(float)
    reference = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    union = reference + predicted - hits
    total = float(matrix.sum())
    per_class = {}
    for i, name in enumerate(names):
        precision = hits[i] / predicted[i] if predicted[i] else 0.0
        recall = hits[i] / reference[i] if reference[i] else 0.0
        per_class[name] = {
            "iou": round(hits[i] / union[i], 4) if union[i] else None,
            "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "reference_pixels": int(reference[i]), "predicted_pixels": int(predicted[i]),
        }
    present = union > 0
    return {
        "overall_accuracy": round(float(hits.sum() / total), 4) if total else 0.0,
        "mean_iou": round(float(np.mean(hits[present] / union[present])), 4) if present.any() else 0.0,
        "mean_f1": round(float(np.mean([per_class[n]["f1"] for n, p in zip(names, present) if p])), 4)
        if present.any() else 0.0,
        "pixels": int(total),
        "classes": per_class,
        "confusion_matrix": {"classes": list(names), "rows_reference_columns_predicted": matrix.tolist()},
    }
