"""Split touching buildings in a semantic mask: marker-based watershed on the U-Net's probability.

A U-Net gives one probability per pixel, so roofs that touch (or lie a pixel apart at the model's GSD) merge
into one blob. The model is most certain in the middle of each roof: the parts of a blob above a high "seed"
probability are one per building far more often than the blob is. Each seed then takes the blob pixels it
reaches along the highest probabilities (a watershed on 1 - probability, confined to the blob), so the blob's
outline is kept and the new walls run along the probability valleys between roofs.

scipy's ``ndimage.watershed_ift`` does the flooding in C; nothing here needs QGIS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..evaluate.metrics import greedy_matches
from ..extract.stitching import probability_bytes, threshold_byte

MATCH_IOU = 0.5  # the SpaceNet rule, as evaluate_buildings
SEED_THRESHOLDS = (0.0, 0.9, 0.95, 0.97, 0.98, 0.99)  # 0: no split
SEED_MIN_AREAS_M2 = (1.0, 2.0, 4.0)
BLOB_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# scipy.ndimage.label's default structure, made once (label builds it anew on every call otherwise)
FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


@dataclass
class SplitSettings:
    """How blobs are split: seeds are 4-connected parts above ``seed_threshold`` of at least ``seed_min_px``."""

    seed_threshold: float = 0.0  # probability 0-1; 0 = never split
    seed_min_px: int = 1

    @property
    def enabled(self) -> bool:
        return 0 < self.seed_threshold < 1

    @property
    def seed_byte(self) -> int:
        """The seed threshold on the 0-255 probability raster (as the mask threshold is applied)."""
        return threshold_byte(self.seed_threshold)

    @classmethod
    def from_area(cls, seed_threshold: float, seed_min_area_m2: float, gsd_m: float) -> SplitSettings:
        return cls(seed_threshold, max(1, int(round(seed_min_area_m2 / (gsd_m * gsd_m)))))


def split_blob(prob: np.ndarray, blob: np.ndarray, settings: SplitSettings) -> tuple[np.ndarray, int]:
    """Labels 1..n for the pixels of one blob (0 outside it) and n; n is 1 unless the blob holds several seeds.

    ``prob`` is the 0-255 probability window around the blob, ``blob`` its boolean pixels (one 4-connected
    part). Every blob pixel gets a label, so the union of the parts is the blob.
    """
    from scipy import ndimage

    labels = blob.astype(np.int32)
    if not settings.enabled:
        return labels, 1
    seeds, count = ndimage.label((prob >= settings.seed_byte) & blob, FOUR_CONNECTED)
    if count > 1 and settings.seed_min_px > 1:
        sizes = np.bincount(seeds.ravel(), minlength=count + 1)
        keep = sizes >= settings.seed_min_px
        keep[0] = False
        renumber = np.cumsum(keep).astype(np.int32) * keep
        seeds, count = renumber[seeds], int(keep.sum())
    if count < 2:
        return labels, 1
    # Outside the blob: the highest cost, so floods pass there only where no path inside the blob exists
    # (never, as the blob is connected); those pixels are cleared afterwards.
    cost = np.where(blob, 255 - prob.astype(np.int32), 255).astype(np.uint8)
    flooded = ndimage.watershed_ift(cost, seeds.astype(np.int32))
    return np.where(blob, flooded, 0).astype(np.int32), count


def label_buildings(prob: np.ndarray, threshold_byte: int, settings: SplitSettings) -> np.ndarray:
    """Building labels of a whole 0-255 probability array: 4-connected blobs at the threshold, each split."""
    from scipy import ndimage

    blobs, count = ndimage.label(prob >= threshold_byte)
    if not settings.enabled or count == 0:
        return blobs
    out = np.zeros(blobs.shape, np.int32)
    next_label = 1
    for index, window in enumerate(ndimage.find_objects(blobs), start=1):
        parts, n = split_blob(prob[window], blobs[window] == index, settings)
        out[window] = np.where(parts > 0, parts + (next_label - 1), out[window])
        next_label += n
    return out


def match_counts(labels: np.ndarray, ids: np.ndarray, min_px: int) -> tuple[int, int, int]:
    """(matched, predicted, reference) buildings of one chip: one-to-one greedy matching at IoU >= 0.5.

    ``ids``: reference building ids (0 background, -1 unknown). Buildings under ``min_px`` pixels are left
    out on both sides (the pipeline drops predicted ones under MIN_AREA).
    """
    labels = np.where(ids >= 0, labels, 0)
    area_p = {v: n for v, n in zip(*np.unique(labels, return_counts=True)) if v > 0 and n >= min_px}
    area_r = {v: n for v, n in zip(*np.unique(ids, return_counts=True)) if v > 0 and n >= min_px}
    if not area_p or not area_r:
        return 0, len(area_p), len(area_r)
    pairs = np.stack([labels.ravel(), ids.ravel()], axis=1)
    pairs = pairs[(pairs[:, 0] > 0) & (pairs[:, 1] > 0)]
    overlaps, counts = np.unique(pairs, axis=0, return_counts=True)
    candidates = [(inter / (area_p[p] + area_r[r] - inter), p, r)
                  for (p, r), inter in zip(overlaps.tolist(), counts.tolist()) if p in area_p and r in area_r]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    matched = sum(1 for iou, _, _ in greedy_matches(candidates) if iou >= MATCH_IOU)
    return matched, len(area_p), len(area_r)


@dataclass
class SplitChoice:
    """Settings tuned for building F1 on validation chips, and the scores there."""

    threshold: float
    seed_threshold: float
    seed_min_area_m2: float
    precision: float
    recall: float
    f1: float


def building_f1(prob_chips: Sequence[np.ndarray], id_chips: Sequence[np.ndarray], threshold: float,
                settings: SplitSettings, min_px: int) -> tuple[float, float, float]:
    """(precision, recall, F1) of buildings over validation chips (0-255 probability, reference ids)."""
    mask_byte = threshold_byte(threshold)
    matched = predicted = reference = 0
    for prob, ids in zip(prob_chips, id_chips):
        m, p, r = match_counts(label_buildings(prob, mask_byte, settings), ids, min_px)
        matched, predicted, reference = matched + m, predicted + p, reference + r
    precision = matched / predicted if predicted else 0.0
    recall = matched / reference if reference else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def tune_split(prob_chips: Sequence[np.ndarray], id_chips: Sequence[np.ndarray], gsd_m: float,
               min_area_m2: float = 4.0, thresholds: Sequence[float] = BLOB_THRESHOLDS) -> SplitChoice:
    """The blob threshold and seed settings with the best building F1 on validation chips.

    Ties (within 0.002 F1) go to not splitting, then to the threshold nearest 0.5: a setting must earn its
    place on the validation data.
    """
    chips = [probability_bytes(p) for p in prob_chips]
    min_px = max(1, int(round(min_area_m2 / (gsd_m * gsd_m))))
    results = []
    for threshold in thresholds:
        for seed in SEED_THRESHOLDS:
            for area in (SEED_MIN_AREAS_M2 if seed else (0.0,)):
                if seed and seed <= threshold:
                    continue
                settings = SplitSettings.from_area(seed, area, gsd_m)
                scores = building_f1(chips, id_chips, threshold, settings, min_px)
                results.append(SplitChoice(threshold, seed, area, *scores))
    best_f1 = max(r.f1 for r in results)
    close = [r for r in results if r.f1 >= best_f1 - 0.002]
    return min(close, key=lambda r: (r.seed_threshold > 0, abs(r.threshold - 0.5), r.seed_min_area_m2))
