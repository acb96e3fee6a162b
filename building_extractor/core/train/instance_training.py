"""Train a Mask R-CNN building detector with the U-Net trainer's data path (streamed chips, the same
augmentation, validation by place, resumable checkpoints), early stopping on building-level F1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError, Cancelled
from ..models.config import ModelConfig
from ..models.maskrcnn import detect, instance_targets, load_encoder_state, maskrcnn_config, paste_mask
from ..models.model_file import load_model_file, read_config
from .training import Trainer

MATCH_IOU = 0.5  # SpaceNet rule: a detection matches a reference building at IoU >= 0.5
SCORE_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.3, 0.951, 0.05))


@dataclass
class ChipMatches:
    """Detections of one validation chip against its reference buildings."""

    scores: np.ndarray  # (k,) detection scores, descending
    iou: np.ndarray  # (k, g) mask IoU of detection i with reference building j
    references: int  # g
    pixel_intersection: int  # union of masks (score >= 0.5) against the reference mask
    pixel_union: int


def freeze_batchnorm(module: Any) -> None:
    """Keep batch-norm statistics fixed (batches of 4 chips are too small to estimate them)."""
    import torch

    for layer in module.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.eval()


def count_matches(chips: list[ChipMatches], threshold: float) -> tuple[int, int, int]:
    """(true positives, detections, references) at a score threshold, one-to-one greedy by score."""
    tp = detections = references = 0
    for chip in chips:
        keep = chip.scores >= threshold
        detections += int(keep.sum())
        references += chip.references
        taken = np.zeros(chip.references, bool)
        for row in chip.iou[keep]:
            candidates = np.where(~taken & (row >= MATCH_IOU))[0]
            if candidates.size:
                taken[candidates[np.argmax(row[candidates])]] = True
                tp += 1
    return tp, detections, references


def f1_score(tp: int, detections: int, references: int) -> tuple[float, float, float]:
    """(precision, recall, F1); 0 where undefined."""
    precision = tp / detections if detections else 0.0
    recall = tp / references if references else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(chips: list[ChipMatches]) -> tuple[float, tuple[float, float, float]]:
    """The detection score threshold with the highest building F1, and (precision, recall, F1) there."""
    results = [(t, f1_score(*count_matches(chips, t))) for t in SCORE_THRESHOLDS]
    return max(results, key=lambda item: (item[1][2], -abs(item[0] - 0.5)))


def match_chip(detections: dict[str, Any], ids: np.ndarray, mask_threshold: float) -> ChipMatches:
    """Paste a chip's detections and compare them with its reference ids (0 background, -1 unknown)."""
    height, width = ids.shape
    references = [value for value in np.unique(ids) if value > 0 and np.count_nonzero(ids == value) >= 12]
    reference_masks = [ids == value for value in references]
    known = ids >= 0
    order = np.argsort(-detections["scores"])
    iou = np.zeros((len(order), len(references)), np.float32)
    union_mask = np.zeros((height, width), bool)
    for i, index in enumerate(order):
        pasted, row0, col0 = paste_mask(detections["masks"][index], detections["boxes"][index], height, width)
        mask = np.zeros((height, width), bool)
        mask[row0:row0 + pasted.shape[0], col0:col0 + pasted.shape[1]] = pasted >= mask_threshold
        mask &= known
        if detections["scores"][index] >= 0.5:
            union_mask |= mask
        area = np.count_nonzero(mask)
        for j, reference in enumerate(reference_masks):
            inter = np.count_nonzero(mask & reference)
            if inter:
                iou[i, j] = inter / (area + np.count_nonzero(reference) - inter)
    truth = ids > 0
    return ChipMatches(detections["scores"][order], iou, len(references),
                       int(np.count_nonzero(union_mask & truth)), int(np.count_nonzero((union_mask | truth) & known)))


class InstanceTrainer(Trainer):
    """Trains a Mask R-CNN; labels are building ids, so touching buildings are separate targets."""

    architecture = "maskrcnn"
    instances = True

    def __init__(self, sources: list[Any], options: Any, output: str, **kwargs: Any) -> None:
        """As :class:`Trainer`; sources whose labels merge touching buildings are left out (wrong instances)."""
        kept = [s for s in sources if s.separate_buildings]
        if sources and not kept:
            raise BuildingExtractorError("Mask R-CNN learns one polygon per building, but every training source "
                                         "merges touching buildings (labels from masks); give footprints drawn "
                                         "building by building.")
        super().__init__(kept, options, output, **kwargs)
        for source in sources:
            if not source.separate_buildings:
                self.progress.info(f"{source.name or source.raster}: labels merge touching buildings; not used "
                                   "for Mask R-CNN.")

    def _config(self) -> ModelConfig:
        o = self.options
        return maskrcnn_config(encoder=o.encoder, gsd_m=o.gsd_m)

    def _initial_model(self) -> tuple[ModelConfig, Any]:
        """Fine-tune a Mask R-CNN file; take only the encoder of a U-Net file; else ImageNet weights if any."""
        from ..models.builders import PRETRAINED_ENCODERS, build_model, imagenet_encoder_state

        o = self.options
        if o.init_model and read_config(o.init_model).architecture == "maskrcnn":
            return super()._initial_model()
        config = self._config()
        if o.init_model:
            unet_config, state = load_model_file(o.init_model)
            config.encoder, config.gsd_m = unet_config.encoder, o.gsd_m or unet_config.gsd_m
            config.bands, config.mean, config.std = unet_config.bands, unet_config.mean, unet_config.std
            model = build_model(config)
            count = load_encoder_state(model, state, prefix="encoder.model.")
            self.progress.info(f"Encoder initialised from the U-Net {o.init_model} ({count} tensors).")
            return config, model
        model = build_model(config)
        if o.pretrained and config.encoder in PRETRAINED_ENCODERS and config.band_count == 3:
            load_encoder_state(model, imagenet_encoder_state(config.encoder))
            self.progress.info(f"Encoder initialised with ImageNet weights ({config.encoder}).")
        return config, model

    def _val_chip(self, place: Any, row: int, col: int, size: int, mean: np.ndarray) -> tuple[np.ndarray, ...]:
        """(image, building ids)."""
        return place.read_chip(row, col, size, size, mean, instances=True)

    def _batch(self, chips: list[tuple[np.ndarray, np.ndarray]], mean: np.ndarray, std: np.ndarray, device: Any
               ) -> tuple[list[Any], list[dict[str, Any]]]:
        import torch

        images = [torch.from_numpy((c[0] - mean[:, None, None]) / std[:, None, None]).to(device) for c in chips]
        targets = [{k: v.to(device) for k, v in instance_targets(c[1]).items()} for c in chips]
        return images, targets

    def _train_epoch(self, model: Any, optimizer: Any, scheduler: Any, places: list[Any], mean: np.ndarray,
                     std: np.ndarray, rng: np.random.Generator, device: Any, epoch: int) -> tuple[float, None]:
        import torch

        o = self.options
        model.train()
        freeze_batchnorm(model)
        losses = []
        for step in range(o.steps_per_epoch):
            if self.progress.is_canceled():
                raise Cancelled()
            images, targets = self._batch([self._sample_chip(places, mean, rng) for _ in range(o.batch_size)],
                                          mean, std, device)
            loss = sum(model(images, targets).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)  # early detector steps can spike
            optimizer.step()
            self._step += 1
            scheduler.step()
            losses.append(float(loss.detach()))
            self.progress.set_fraction((epoch + (step + 1) / o.steps_per_epoch) / o.epochs)
        return float(np.mean(losses)), None  # no cheap per-batch IoU for instances

    def _validate(self, model: Any, chips: list[Any], mean: np.ndarray, std: np.ndarray, device: Any,
                  threshold: float) -> tuple[float, float, list[ChipMatches]]:
        import torch

        losses, matches = [], []
        for i in range(0, len(chips), 4):
            if self.progress.is_canceled():
                raise Cancelled()
            part = chips[i:i + 4]
            images, targets = self._batch(part, mean, std, device)
            model.train()  # losses exist only in training mode; statistics stay frozen, nothing is updated
            freeze_batchnorm(model)
            with torch.no_grad():
                losses.append(float(sum(model(images, targets).values())))
            model.eval()
            with torch.inference_mode():
                detections = detect(model, torch.stack(images), 0.05)
            matches += [match_chip(d, c[1], self.config.mask_threshold) for d, c in zip(detections, part)]
        inter = sum(m.pixel_intersection for m in matches)
        union = sum(m.pixel_union for m in matches)
        return float(np.mean(losses)) if losses else 0.0, inter / union if union else 0.0, matches

    def _val_f1(self, extra: list[ChipMatches]) -> float | None:
        return best_threshold(extra)[1][2] if extra else 0.0

    def _tune(self, config: ModelConfig, extra: list[ChipMatches]) -> dict[str, Any]:
        """Store the score threshold with the best validation F1; return the validation metrics."""
        threshold, (precision, recall, f1) = best_threshold(extra)
        config.threshold = threshold
        inter = sum(m.pixel_intersection for m in extra)
        union = sum(m.pixel_union for m in extra)
        return {"val_f1": round(f1, 4), "val_precision": round(precision, 4), "val_recall": round(recall, 4),
                "val_score_threshold": threshold, "val_iou": round(inter / union, 4) if union else 0.0,
                "val_buildings": sum(m.references for m in extra)}
