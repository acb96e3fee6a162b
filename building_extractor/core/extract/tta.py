"""Test-time augmentation: each tile also goes through the model flipped and rotated, and the answers, turned
back, are averaged.

Segmentation: the building probabilities of the transformed tiles are averaged pixel by pixel. Mask R-CNN:
the detections of every transformed tile are mapped back (boxes and 28 x 28 masks), detections of the same
building across transforms are fused (score summed over the transforms and divided by their number, so a
building found in one pass of eight scores an eighth; box and mask averaged, weighted by score), and the
model's score threshold is applied to the fused score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Mode -> transforms as (quarter turns, flip left-right after turning), applied to (…, rows, cols) arrays.
TTA_MODES: dict[str, tuple[tuple[int, bool], ...]] = {
    "none": ((0, False),),
    "flips": ((0, False), (0, True), (2, True), (2, False)),  # identity, left-right, up-down, 180°
    "d4": tuple((turns, flip) for turns in range(4) for flip in (False, True)),  # also the 90° turns
}
TTA_LABELS = {"none": "None", "flips": "Flips (4 passes)", "d4": "Flips and 90° rotations (8 passes)"}
FUSE_IOU = 0.55  # box IoU above which detections of two passes are the same building
DETECT_FLOOR = 0.05  # passes keep detections from this score, so that averaging sees the uncertain ones


def check_mode(mode: str) -> tuple[tuple[int, bool], ...]:
    from ..errors import BuildingExtractorError

    if mode not in TTA_MODES:
        raise BuildingExtractorError(f"Unknown TTA mode {mode!r}; use one of {', '.join(TTA_MODES)}.")
    return TTA_MODES[mode]


def forward_transform(x: Any, turns: int, flip: bool) -> Any:
    """Turn (counter-clockwise, torch.rot90 / np.rot90 over the last two axes), then flip left-right."""
    lib = np if isinstance(x, np.ndarray) else _torch()
    x = lib.rot90(x, turns, (-2, -1)) if lib is np else lib.rot90(x, turns, dims=(-2, -1))
    if flip:
        x = x[..., ::-1] if lib is np else x.flip(-1)
    return x


def inverse_transform(y: Any, turns: int, flip: bool) -> Any:
    """Undo :func:`forward_transform`."""
    lib = np if isinstance(y, np.ndarray) else _torch()
    if flip:
        y = y[..., ::-1] if lib is np else y.flip(-1)
    return lib.rot90(y, -turns, (-2, -1)) if lib is np else lib.rot90(y, -turns, dims=(-2, -1))


def _torch() -> Any:
    import torch

    return torch


def averaged_probability(probability: Any, images: Any, mode: str) -> Any:
    """Mean of ``probability(transformed images)`` turned back; ``images`` a torch batch (n, bands, h, w)."""
    transforms = check_mode(mode)
    total = None
    for turns, flip in transforms:
        answer = inverse_transform(probability(forward_transform(images, turns, flip)), turns, flip)
        total = answer if total is None else total + answer
    return total / len(transforms)


def boxes_back(boxes: np.ndarray, turns: int, flip: bool, height: int, width: int) -> np.ndarray:
    """Boxes (k, 4: x0 y0 x1 y1) found in a transformed (height, width) tile, in the original tile's pixels."""
    turned_h, turned_w = (width, height) if turns % 2 else (height, width)
    x0, y0, x1, y1 = (boxes[:, i].astype(np.float64) for i in range(4))
    if flip:
        x0, x1 = turned_w - x1, turned_w - x0
    h, w = turned_h, turned_w
    for _ in range(turns % 4):
        # One counter-clockwise quarter turn maps an (h_prev, w_prev) point (x, y) to (y, w_prev - x) with the
        # turned image (w_prev, h_prev); undoing it maps (x', y') back to (w_prev - y', x'), here w_prev = h.
        x0, y0, x1, y1 = h - y1, x0, h - y0, x1
        h, w = w, h
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x0 y0 x1 y1 boxes."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def fused_detections(passes: list[dict[str, np.ndarray]], score_threshold: float) -> dict[str, np.ndarray]:
    """One tile's detections from several passes (already mapped back) fused building by building.

    Greedy by score: each detection not yet taken gathers the untaken ones of other passes that overlap it by
    ``FUSE_IOU`` or more (at most one per pass). Fused score = sum of member scores / number of passes.
    """
    count = len(passes)
    boxes = np.concatenate([p["boxes"] for p in passes]) if passes else np.zeros((0, 4), np.float32)
    scores = np.concatenate([p["scores"] for p in passes]) if passes else np.zeros(0, np.float32)
    masks = np.concatenate([p["masks"] for p in passes]) if passes else np.zeros((0, 28, 28), np.float32)
    origin = np.concatenate([np.full(len(p["scores"]), i) for i, p in enumerate(passes)]) if passes else \
        np.zeros(0, int)
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes) if len(boxes) else np.zeros((0, 0))
    taken = np.zeros(len(scores), bool)
    fused_boxes, fused_scores, fused_masks = [], [], []
    for lead in order:
        if taken[lead]:
            continue
        members, seen = [lead], {origin[lead]}
        for other in order:
            if not taken[other] and other != lead and origin[other] not in seen and iou[lead, other] >= FUSE_IOU:
                members.append(other)
                seen.add(origin[other])
        taken[members] = True
        weights = scores[members] / scores[members].sum()
        score = float(scores[members].sum() / count)
        if score >= score_threshold:
            fused_scores.append(score)
            fused_boxes.append((boxes[members] * weights[:, None]).sum(axis=0))
            fused_masks.append((masks[members] * weights[:, None, None]).sum(axis=0))
    return {"boxes": np.asarray(fused_boxes, np.float32).reshape(-1, 4),
            "scores": np.asarray(fused_scores, np.float32),
            "masks": np.asarray(fused_masks, np.float32).reshape(-1, *masks.shape[1:])}


def augmented_detections(detect_batch: Any, images: Any, mode: str, score_threshold: float) -> list[dict[str, Any]]:
    """Detections per image of a batch (torch or numpy) with TTA: ``detect_batch(images, floor)`` runs the
    detector."""
    transforms = check_mode(mode)
    if len(transforms) == 1:
        return detect_batch(images, score_threshold)
    height, width = images.shape[-2:]
    per_image: list[list[dict[str, np.ndarray]]] = [[] for _ in range(images.shape[0])]
    for turns, flip in transforms:
        turned = forward_transform(images, turns, flip)
        turned = np.ascontiguousarray(turned) if isinstance(turned, np.ndarray) else turned.contiguous()
        found = detect_batch(turned, min(score_threshold, DETECT_FLOOR))
        for i, d in enumerate(found):
            per_image[i].append({"boxes": boxes_back(d["boxes"], turns, flip, height, width),
                                 "scores": d["scores"],
                                 "masks": np.ascontiguousarray(inverse_transform(d["masks"], turns, flip))})
    return [fused_detections(passes, score_threshold) for passes in per_image]
