"""Train a land cover U-Net (one softmax class per land cover type) with the building trainer's data path.

Labels come from a class raster aligned on the image's processing grid (nearest neighbour, its nodata ignored)
or from polygon layers each burnt with one class value. The loss is cross-entropy plus soft Dice over the
classes; validation scores the confusion matrix (mean IoU for early stopping, per-class IoU, F1, overall
accuracy in the model file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError
from ..evaluate.landcover_metrics import confusion_matrix, landcover_scores
from ..io.aligned_raster import AlignedRaster
from ..io.labels import IGNORE, class_lookup, read_polygons
from ..io.raster_source import RasterSource
from ..models.config import DEFAULT_COLORS, ModelConfig
from .training import (
    UNET_OVERLAP,
    UNET_TILE_SIZE,
    Trainer,
    TrainingOptions,
    TrainingSource,
    _Place,
    finish_chip,
    input_fields,
    with_inputs,
)


def check_classes(classes: list[dict[str, Any]]) -> None:
    """Refuse class lists a model file could not hold, naming the problem."""
    values = [c.get("value") for c in classes]
    if len(classes) < 2:
        raise BuildingExtractorError("A land cover model needs at least two classes (name and value each).")
    if any(not isinstance(v, int) or not 1 <= v <= 254 for v in values) or len(set(values)) != len(values):
        raise BuildingExtractorError(f"Class values must be distinct whole numbers from 1 to 254; got {values}. "
                                     "0 and 255 are kept for nodata.")
    if any(not str(c.get("name", "")).strip() for c in classes):
        raise BuildingExtractorError("Every land cover class needs a name.")


class LandCoverPlace(_Place):
    """A training raster with class labels from a class raster or from polygon layers."""

    def __init__(self, source: TrainingSource, gsd_m: float, band_count: int, lookup: np.ndarray) -> None:
        if not source.class_raster and not source.class_layers:
            raise BuildingExtractorError(f"Training raster {source.raster} has no class raster and no class polygon "
                                         "layers: give one or the other for a land cover model.")
        self.name = source.name or Path(source.raster).stem
        self.source = source
        self.raster = RasterSource(source.raster, gsd_m, band_count=band_count)
        self.lookup, self.background = lookup, source.background
        self.val_blocks: list[tuple[int, int, int, int]] = []
        grid = self.raster.grid
        self.labels = AlignedRaster(source.class_raster, grid, "class") if source.class_raster else None
        bounds = _grid_bounds(grid)
        self.layers = [(read_polygons(path, grid.crs_wkt, bounds), int(value)) for path, value in source.class_layers]
        self.area = read_polygons(source.area, grid.crs_wkt, bounds) if source.area else None
        self.polygons = [p for polygons, _ in self.layers for p in polygons]  # counted in the training log

    def read_chip(self, row: int, col: int, size: int, out_size: int, mean: np.ndarray, instances: bool = False,
                  gaps: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Image (bands, out, out) float32 0-1 and class indexes (out, out) uint8, IGNORE where unknown."""
        from ..io.labels import rasterize_window

        image, valid, transform, footprint = self.read_image(row, col, size, mean)
        h, w = valid.shape
        if self.labels is not None:
            values, known = self.labels.read(row, col, h, w)
            raw = np.where(known, np.clip(values, 0, 255), 0).astype(np.uint8)
        else:
            raw = self._burn(transform, footprint, (h, w))
        label = self.lookup[raw]
        if self.area is not None:
            valid &= rasterize_window([a for a in self.area if a.intersects(footprint)], transform, (h, w)) > 0
        return finish_chip(image, label, valid, IGNORE, size, out_size)

    def _burn(self, transform: Any, footprint: Any, shape: tuple[int, int]) -> np.ndarray:
        """Class values burnt from the polygon layers in order (later layers on top), background elsewhere."""
        from rasterio.features import rasterize

        shapes = [(p, value) for polygons, value in self.layers for p in polygons if p.intersects(footprint)]
        if not shapes:
            return np.full(shape, self.background, np.uint8)
        return rasterize(shapes, out_shape=shape, transform=transform, fill=self.background, dtype="uint8")


def _grid_bounds(grid: Any) -> tuple[float, float, float, float]:
    left, top = grid.transform * (0, 0)
    right, bottom = grid.transform * (grid.width, grid.height)
    return min(left, right), min(top, bottom), max(left, right), max(top, bottom)


def cross_entropy_dice_loss(logits: Any, target: Any) -> Any:
    """Cross-entropy plus multi-class soft Dice (smp's), both ignoring IGNORE pixels."""
    import torch.nn.functional as F
    from segmentation_models_pytorch.losses import DiceLoss

    ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
    return ce + DiceLoss("multiclass", ignore_index=IGNORE)(logits, target)


class LandCoverTrainer(Trainer):
    """Trains a land cover U-Net; early stopping on validation mean IoU."""

    def __init__(self, sources: list[TrainingSource], options: TrainingOptions, output: str, **kwargs: Any) -> None:
        check_classes(options.classes)
        super().__init__(sources, options, output, **kwargs)
        self.loss = cross_entropy_dice_loss
        self.names = [str(c["name"]) for c in options.classes]
        self.lookup = class_lookup([c["value"] for c in options.classes])

    def _config(self) -> ModelConfig:
        o = self.options
        return ModelConfig(architecture=o.architecture, encoder=o.encoder, gsd_m=o.gsd_m,
                           decoder_channels=list(o.decoder_channels),
                           tile_size=UNET_TILE_SIZE, overlap=UNET_OVERLAP, classes=list(self.names),
                           class_values=[int(c["value"]) for c in o.classes],
                           class_colors=[str(c.get("color") or DEFAULT_COLORS[i % len(DEFAULT_COLORS)])
                                         for i, c in enumerate(o.classes)], **input_fields(o))

    def _initial_model(self) -> tuple[ModelConfig, Any]:
        config, model = super()._initial_model()
        if config.classes != self.names:
            raise BuildingExtractorError(f"INIT_MODEL has the classes {config.classes}; this training has "
                                         f"{self.names}. Fine-tune a model with the same classes.")
        return config, model

    def _open_place(self, source: TrainingSource, config: ModelConfig) -> _Place:
        return with_inputs(LandCoverPlace(source, config.gsd_m, config.band_count, self.lookup), config)

    def _check_labels(self, places: list[_Place]) -> None:
        """Class labels need no footprint check: chips without labelled pixels are never drawn, and a raster
        with none at all stops the run when sampling (Trainer._draw_chip)."""

    def _labels_found(self, places: list[_Place]) -> str:
        """Class rasters and class polygons (not building footprints) for the log line that starts training."""
        rasters = sum(1 for p in places if p.source.class_raster)
        polygons = sum(len(p.polygons) for p in places if not p.source.class_raster)
        parts = [f"{rasters} class raster(s)"] if rasters else []
        return ", ".join(parts + ([f"{polygons} class polygons"] if polygons else [])) or "no labels"

    def _target(self, labels: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(labels.astype(np.int64))

    def _overlap(self, logits: Any, target: Any) -> tuple[float, float]:
        """Correct and known pixels (the batch's pixel accuracy stands in for the building IoU)."""
        known = target != IGNORE
        return float(((logits.argmax(1) == target) & known).sum()), float(known.sum())

    def _val_chip(self, place: _Place, row: int, col: int, size: int, mean: np.ndarray) -> tuple[np.ndarray, ...]:
        return place.read_chip(row, col, size, size, mean)

    def _validate(self, model: Any, chips: list[Any], mean: np.ndarray, std: np.ndarray, device: Any,
                  threshold: float) -> tuple[float, float, np.ndarray]:
        """Validation loss, mean IoU and the confusion matrix."""
        import torch

        model.eval()
        losses, matrix = [], np.zeros((len(self.names),) * 2, np.int64)
        with torch.inference_mode():
            for i in range(0, len(chips), 4):
                part = chips[i:i + 4]
                x = torch.from_numpy(np.stack([(c[0] - mean[:, None, None]) / std[:, None, None] for c in part]))
                y = self._target(np.stack([c[1] for c in part]))
                logits = model(x.to(device)).cpu()
                losses.append(float(self.loss(logits, y)))
                matrix += confusion_matrix(y.numpy(), logits.argmax(1).numpy(), len(self.names))
        scores = landcover_scores(matrix, self.names)
        return float(np.mean(losses)) if losses else 0.0, scores["mean_iou"], matrix

    def _tune(self, config: ModelConfig, extra: Any) -> dict[str, Any]:
        """Validation scores of the kept epoch (a land cover model has no threshold to tune)."""
        scores = landcover_scores(extra, self.names)
        return {"val_mean_iou": scores["mean_iou"], "val_overall_accuracy": scores["overall_accuracy"],
                "val_mean_f1": scores["mean_f1"],
                "val_class_iou": {name: c["iou"] for name, c in scores["classes"].items()},
                "val_confusion_matrix": scores["confusion_matrix"]["rows_reference_columns_predicted"]}

    def retune(self, model_path: str) -> dict[str, Any]:
        raise BuildingExtractorError("A land cover model has no thresholds to tune.")
