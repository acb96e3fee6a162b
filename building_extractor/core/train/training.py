"""Train a building U-Net from rasters and footprints: streamed chips, spatial-block validation, early
stopping on validation IoU, threshold tuned on validation, resumable checkpoints."""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError, Cancelled
from ..io.labels import IGNORE, rasterize_ids, rasterize_window, read_polygons
from ..io.raster_source import RasterSource
from ..models.builders import resolve_device
from ..models.choices import ARCHITECTURES, task_of
from ..models.config import ModelConfig
from ..models.model_file import save_model_file
from ..progress import Progress, SilentProgress
from ..vector.spatial_index import SpatialIndex
from ..vector.split import tune_split

# Inference defaults written into new U-Net model files. The overlap is what keeps the result independent of the
# tile size: every pixel is taken from a tile in which it has >= 64 px of context (tiling.context_margin); 1024 px
# tiles keep the recomputed overlap at 1.40x the raster (512 px tiles would need 2.1x; BENCHMARKS.md, session 3).
UNET_TILE_SIZE, UNET_OVERLAP = 1024, 160


@dataclass
class TrainingSource:
    """One training raster with its footprints and, optionally, the polygon of the labelled area.

    ``share`` is the fraction of training chips drawn from this raster; the rasters without one share the rest
    in proportion to their area (all of it when no raster has a share).
    ``separate_buildings`` False marks labels that merge touching buildings (footprints vectorized from masks):
    they teach pixels only, so no instance (Mask R-CNN) targets and no validation blocks come from them, as
    building-level scores and split tuning need one footprint per building.
    Land cover models take their labels from ``class_raster`` (class values, its nodata ignored) or from
    ``class_layers`` (polygon files, each burnt with its class value in order; pixels none covers take the
    ``background`` value, 0 = unknown) instead of ``footprints``.
    """

    raster: str
    footprints: str = ""
    area: str | None = None
    name: str = ""
    share: float | None = None
    separate_buildings: bool = True
    class_raster: str | None = None
    class_layers: list[tuple[str, int]] = field(default_factory=list)
    background: int = 0
    extra_rasters: dict[str, str] = field(default_factory=dict)  # models with raster inputs (core.io.extra_inputs)


@dataclass
class TrainingOptions:
    """Training hyper-parameters; the defaults are the ones the shipped model used."""

    encoder: str = "efficientnet_lite0"
    gsd_m: float = 0.3
    chip_size: int = 256
    batch_size: int = 8
    epochs: int = 40
    steps_per_epoch: int = 25
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    block_size: int = 256
    patience: int = 10
    max_minutes: float = 0.0  # 0 = no time budget
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    init_model: str | None = None
    pretrained: bool = True
    decoder_channels: list[int] = field(default_factory=lambda: [128, 64, 48, 32, 16])
    architecture: str = "unet"  # a key of core.models.choices.ARCHITECTURES (see make_trainer)
    augment: bool = True  # flips, rotations, colour jitter, noise
    chip_pool: int = 0  # > 0: sample this many chips once and draw every batch from them (tiny data, tests)
    touching_gaps: bool = False  # U-Net: label the pixel on each side of a shared wall as background
    loss: str = "bce_dice"  # segmentation networks: a key of UNET_LOSSES
    # Land cover: [{"name", "value", "color"}, ...] (core.train.landcover_training); empty for a building model.
    classes: list[dict[str, Any]] = field(default_factory=list)
    # The image bands read (names; e.g. red, green, blue, nir for RGBN) and the extra inputs (core.io.extra_inputs).
    bands: list[str] = field(default_factory=lambda: ["red", "green", "blue"])
    extra_inputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_iou: float | None  # None: no per-batch IoU (instance models)
    val_loss: float
    val_iou: float
    seconds: float
    val_f1: float | None = None  # building-level F1 (instance models)


def touching_seams(ids: np.ndarray) -> np.ndarray:
    """Building pixels with a pixel of another building among their 8 neighbours (both sides of a shared wall).

    A U-Net trained on a 0/1 mask learns touching buildings as one blob; labelling these pixels background
    teaches it to leave a seam there, so the vectorized mask splits into one polygon per building.
    """
    buildings = ids > 0
    padded = np.pad(np.where(buildings, ids, 0), 1)
    seams = np.zeros(ids.shape, bool)
    height, width = ids.shape
    for dy in range(3):
        for dx in range(3):
            neighbour = padded[dy:dy + height, dx:dx + width]
            seams |= (neighbour > 0) & (neighbour != ids)
    return buildings & seams


#: Labels this thin are warned about: a model learns little from a handful of buildings.
FEW_BUILDINGS = 20
FEW_BUILDING_PIXELS = 0.005  # fraction of the training rasters' area


def check_labels(places: list[_Place], progress: Any) -> None:
    """Refuse footprints that give no building pixels on the training rasters (empty, outside the rasters, or
    not polygons) before any training; warn when they give very little."""
    from shapely.geometry import box

    count, building_area, raster_area = 0, 0.0, 0.0
    for place in places:
        grid = place.raster.grid
        left, top = grid.transform * (0, 0)
        right, bottom = grid.transform * (grid.width, grid.height)
        extent = box(min(left, right), min(top, bottom), max(left, right), max(top, bottom))
        inside = [p.intersection(extent).area for p in place.polygons]
        count += sum(1 for a in inside if a > 0)
        building_area += sum(inside)
        raster_area += extent.area
    names = ", ".join(place.name for place in places)
    if count == 0 or building_area <= 0:
        skipped = sum(place.skipped_geometries for place in places)
        why = (f"{skipped} feature(s) are points or lines, not polygons" if skipped else
               "no footprint polygon lies on the raster(s)")
        raise BuildingExtractorError(
            f"The footprints give no building pixels on the training raster(s) {names}: {why}. Training would "
            "learn nothing (validation IoU 0). Use a polygon layer of building footprints that covers the rasters "
            "(check both are the same area and the footprints' CRS is right)."
        )
    fraction = building_area / max(raster_area, 1e-9)
    if count < FEW_BUILDINGS or fraction < FEW_BUILDING_PIXELS:
        progress.warning(
            f"The footprints give little to learn from: {count} building(s) covering {100 * fraction:.2g} % of the "
            f"training raster(s). Expect a weak model; add footprints or rasters with more buildings."
        )


class _Place:
    """An opened training raster: grid, footprints in grid CRS, validation blocks."""

    def __init__(self, source: TrainingSource, gsd_m: float, band_count: int) -> None:
        self.name = source.name or Path(source.raster).stem
        self.source = source
        self.raster = RasterSource(source.raster, gsd_m, band_count=band_count)
        grid = self.raster.grid
        left, top = grid.transform * (0, 0)
        right, bottom = grid.transform * (grid.width, grid.height)
        bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
        skipped: list[str] = []
        self.polygons = read_polygons(source.footprints, grid.crs_wkt, bounds, skipped=skipped)
        self.skipped_geometries = len(skipped)
        self.area = read_polygons(source.area, grid.crs_wkt, bounds) if source.area else None
        self.val_blocks: list[tuple[int, int, int, int]] = []
        self.index = SpatialIndex(self.polygons)

    def polygons_in(self, geom: Any) -> list[Any]:
        return [self.polygons[i] for i in self.index.query(geom)]

    def read_chip(self, row: int, col: int, size: int, out_size: int, mean: np.ndarray, instances: bool = False,
                  gaps: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Image (bands, out, out) float32 0-1 and label (out, out).

        The label is uint8 0/1 with IGNORE where unknown, or with ``instances`` int32 building ids (1, 2, …;
        0 background, -1 unknown) so that touching buildings stay apart. With ``gaps`` the 0/1 label has a
        background seam where two buildings touch (:func:`touching_seams`).
        """
        image, valid, transform, footprint = self.read_image(row, col, size, mean)
        h, w = valid.shape
        burn = rasterize_ids if instances or gaps else rasterize_window
        label = burn(self.polygons_in(footprint), transform, (h, w))
        if gaps and not instances:
            label = ((label > 0) & ~touching_seams(label)).astype(np.uint8)
        if self.area is not None:
            known = rasterize_window([a for a in self.area if a.intersects(footprint)], transform, (h, w))
            valid &= known > 0
        return finish_chip(image, label, valid, -1 if instances else IGNORE, size, out_size)

    def read_image(self, row: int, col: int, size: int, mean: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        """A window of at most ``size`` px: image (bands, h, w) 0-1 with ``mean`` where invalid, validity,
        the window's transform and its footprint polygon."""
        from rasterio.windows import Window
        from rasterio.windows import transform as window_transform
        from shapely.geometry import box

        grid = self.raster.grid
        h = min(size, grid.height - row)
        w = min(size, grid.width - col)
        data, valid = self.raster.read(row, col, h, w)
        transform = window_transform(Window(col, row, w, h), grid.transform)
        x0, y0 = transform * (0, 0)
        x1, y1 = transform * (w, h)
        footprint = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        image = np.where(valid[None], data / 255.0, mean[:, None, None])
        return image, valid, transform, footprint


def finish_chip(image: np.ndarray, label: np.ndarray, valid: np.ndarray, unknown: int, size: int, out_size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mark invalid pixels unknown, pad a chip cut by the raster's edge to ``size`` and resample it to
    ``out_size`` (bilinear image, nearest label)."""
    h, w = valid.shape
    label = np.where(valid, label, unknown).astype(label.dtype)
    if h < size or w < size:
        image = np.pad(image, ((0, 0), (0, size - h), (0, size - w)), mode="reflect" if min(h, w) > 1 else "edge")
        label = np.pad(label, ((0, size - h), (0, size - w)), constant_values=unknown)
    if size != out_size:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
        image = F.interpolate(t, size=(out_size, out_size), mode="bilinear", align_corners=False)[0].numpy()
        lt = torch.from_numpy(label)[None, None].float()
        label = F.interpolate(lt, size=(out_size, out_size), mode="nearest")[0, 0].numpy().astype(label.dtype)
    return image.astype(np.float32), label


def input_fields(options: TrainingOptions) -> dict[str, Any]:
    """The model config's bands, extra inputs and per-channel normalisation for these options."""
    channels = len(options.bands) + len(options.extra_inputs)
    return {"bands": list(options.bands), "extra_inputs": [dict(spec) for spec in options.extra_inputs],
            "mean": [0.5] * channels, "std": [0.5] * channels}


def with_inputs(place: _Place, config: ModelConfig) -> _Place:
    """The place reading the model's extra input channels with its image (core.io.extra_inputs)."""
    from ..io.extra_inputs import with_extra_inputs

    place.raster = with_extra_inputs(place.raster, config, place.source.extra_rasters or None)
    return place


def chip_shares(places: list[_Place]) -> np.ndarray:
    """The probability of drawing a chip from each place: its ``share``, or the rest in proportion to area."""
    areas = np.array([p.raster.grid.width * p.raster.grid.height for p in places], float)
    fixed = np.array([p.source.share if p.source.share is not None else np.nan for p in places], float)
    free = np.isnan(fixed)
    rest = max(0.0, 1.0 - float(np.nansum(fixed))) if free.any() else 0.0
    shares = np.where(free, rest * areas / max(float(areas[free].sum()), 1.0), fixed)
    if shares.sum() <= 0:
        raise BuildingExtractorError("The training sources' shares leave nothing to draw chips from; give at "
                                     "least one source a share above 0.")
    return shares / shares.sum()


def split_blocks(place: _Place, block: int, fraction: float, rng: random.Random) -> None:
    """Hold out a fraction of square blocks of each raster for validation (split by place, not by chip)."""
    grid = place.raster.grid
    blocks = [(r, c, min(block, grid.height - r), min(block, grid.width - c))
              for r in range(0, grid.height, block) for c in range(0, grid.width, block)]
    blocks = [b for b in blocks if b[2] >= block // 2 and b[3] >= block // 2]
    count = max(1, int(round(len(blocks) * fraction))) if fraction > 0 and len(blocks) > 1 else 0
    place.val_blocks = rng.sample(blocks, count)


def _overlaps_val(place: _Place, row: int, col: int, size: int) -> bool:
    return any(row < r + h and r < row + size and col < c + w and c < col + size
               for r, c, h, w in place.val_blocks)


def augment(image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flips, 90° rotations, brightness/contrast/illumination jitter and Gaussian noise."""
    k = int(rng.integers(4))
    image, label = np.rot90(image, k, axes=(1, 2)), np.rot90(label, k)
    if rng.random() < 0.5:
        image, label = image[:, :, ::-1], label[:, ::-1]
    contrast = rng.uniform(0.75, 1.25)
    brightness = rng.uniform(-0.1, 0.1)
    per_band = rng.uniform(0.92, 1.08, size=(image.shape[0], 1, 1))  # illumination / colour cast
    mean = image.mean(axis=(1, 2), keepdims=True)
    image = (image - mean) * contrast + mean + brightness
    image = image * per_band
    if rng.random() < 0.5:
        image = image + rng.normal(0, rng.uniform(0.005, 0.03), size=image.shape)
    return np.clip(image, 0, 1).astype(np.float32), np.ascontiguousarray(label)


def _known_truth(target: Any) -> tuple[Any, Any]:
    """(known, truth) float masks of a 0/1/IGNORE target."""
    return (target != IGNORE).float(), (target == 1).float()


def _bce(logits: Any, target: Any, pos_weight: Any = None) -> Any:
    """Binary cross-entropy averaged over the known pixels (IGNORE pixels count for nothing)."""
    import torch.nn.functional as F

    known, truth = _known_truth(target)
    return F.binary_cross_entropy_with_logits(logits, truth, weight=known, pos_weight=pos_weight,
                                              reduction="sum") / known.sum().clamp(min=1)


def bce_dice_loss(logits: Any, target: Any) -> Any:
    """Binary cross-entropy plus soft Dice, ignoring pixels labelled IGNORE."""
    import torch

    known, truth = _known_truth(target)
    prob = torch.sigmoid(logits) * known
    inter = (prob * truth).sum()
    dice = 1 - (2 * inter + 1) / (prob.sum() + (truth * known).sum() + 1)
    return _bce(logits, target) + dice


def lovasz_loss(logits: Any, target: Any) -> Any:
    """The Lovász hinge per chip (smp's): a convex surrogate of 1 - IoU, ignoring IGNORE pixels."""
    from segmentation_models_pytorch.losses import LovaszLoss

    return LovaszLoss("binary", per_image=True, ignore_index=IGNORE)(logits, target)


def bce_lovasz_loss(logits: Any, target: Any) -> Any:
    """Binary cross-entropy plus the Lovász hinge per chip (smp's, a surrogate of IoU), ignoring IGNORE pixels.

    The Lovász hinge optimises the intersection-over-union itself; it is the usual second stage after BCE + Dice
    when the score that counts is pixel IoU.
    """
    return _bce(logits, target) + lovasz_loss(logits, target)


def focal_loss(logits: Any, target: Any) -> Any:
    """Focal loss (smp's, gamma 2): easy pixels weigh little, so small buildings and edges count more."""
    from segmentation_models_pytorch.losses import FocalLoss

    return FocalLoss("binary", gamma=2.0, ignore_index=IGNORE)(logits, target)


def jaccard_loss(logits: Any, target: Any) -> Any:
    """Soft IoU (Jaccard) loss over the batch (smp's), ignoring IGNORE pixels."""
    from segmentation_models_pytorch.losses import JaccardLoss

    return JaccardLoss("binary", smooth=1.0, ignore_index=IGNORE)(logits, target)


def tversky_loss(logits: Any, target: Any) -> Any:
    """Tversky loss (smp's) with alpha 0.3 (false positives), beta 0.7 (false negatives): favours recall."""
    from segmentation_models_pytorch.losses import TverskyLoss

    return TverskyLoss("binary", smooth=1.0, alpha=0.3, beta=0.7, ignore_index=IGNORE)(logits, target)


def weighted_bce_loss(logits: Any, target: Any) -> Any:
    """Cross entropy with building pixels weighted by the batch's background / building ratio (1 to 10).

    Ours: smp has no binary weighted cross entropy, and a fixed weight would suit one data set only. Buildings
    cover 5-40 % of a chip, so the ratio balances the two classes in each batch.
    """
    import torch

    known, truth = _known_truth(target)
    buildings = (truth * known).sum()
    ratio = ((known.sum() - buildings) / buildings.clamp(min=1)).clamp(1.0, 10.0).detach()
    return _bce(logits, target, pos_weight=torch.as_tensor(ratio, device=logits.device))


#: The training losses of the segmentation networks by name: (label, function). New names go at the end (their
#: position is train_model's LOSS option index). train_model, train_default, compare_models and the report use it.
UNET_LOSSES = {
    "bce_dice": ("BCE + Dice", bce_dice_loss),
    "bce_lovasz": ("BCE + Lovász hinge", bce_lovasz_loss),
    "focal": ("Focal", focal_loss),
    "jaccard": ("IoU (Jaccard)", jaccard_loss),
    "lovasz": ("Lovász hinge", lovasz_loss),
    "tversky": ("Tversky (alpha 0.3, beta 0.7)", tversky_loss),
    "weighted_bce": ("Weighted cross entropy", weighted_bce_loss),
}


def unet_loss(name: str) -> Any:
    """The training loss called ``name`` (a key of UNET_LOSSES)."""
    if name not in UNET_LOSSES:
        raise BuildingExtractorError(f"Unknown loss {name!r}; use one of {', '.join(UNET_LOSSES)}.")
    return UNET_LOSSES[name][1]


class Trainer:
    """Trains one U-Net; ``run`` returns the path of the written model file.

    Subclasses (:class:`building_extractor.core.train.instance_training.InstanceTrainer`) change the model, the
    labels, the training step and the validation score through the ``_``-methods below.
    """

    architecture = "unet"
    instances = False  # labels are building ids (True) or a 0/1 mask (False)
    place_type: type[_Place] = _Place

    def __init__(self, sources: list[TrainingSource], options: TrainingOptions, output: str,
                 validation: list[TrainingSource] | None = None, checkpoint_dir: str | None = None,
                 progress: Progress | None = None) -> None:
        if not sources:
            raise BuildingExtractorError("Give at least one training raster with footprints.")
        if options.architecture not in ARCHITECTURES:
            raise BuildingExtractorError(f"Unknown architecture {options.architecture!r}; train one of: "
                                         f"{', '.join(ARCHITECTURES)}.")
        self.loss = unet_loss(options.loss)
        if task_of(options.architecture) != task_of(self.architecture):
            raise BuildingExtractorError(f"{type(self).__name__} trains {self.architecture} models, not "
                                         f"{options.architecture}; make_trainer picks the right trainer.")
        if options.architecture == "deeplabv3plus" and options.batch_size < 2 and not options.init_model:
            raise BuildingExtractorError("DeepLabV3+ trains with a batch size of at least 2 (its image-pooling "
                                         "branch normalises over the chips of a batch); raise the batch size.")
        self.sources, self.options, self.output = sources, options, output
        self.validation = validation or []
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress or SilentProgress()
        self.history: list[EpochRecord] = []
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []

    def _config(self) -> ModelConfig:
        o = self.options
        return ModelConfig(architecture=o.architecture, encoder=o.encoder, gsd_m=o.gsd_m,
                           decoder_channels=list(o.decoder_channels), tile_size=UNET_TILE_SIZE, overlap=UNET_OVERLAP,
                           **input_fields(o))

    def _initial_model(self) -> tuple[ModelConfig, Any]:
        """The config and network to train: fine-tuned from INIT_MODEL, else new (ImageNet encoder if any)."""
        from ..models.builders import build_model, init_pretrained_encoder, load_model

        o = self.options
        if o.init_model:
            init_config, model = load_model(o.init_model, expected_architecture=self.architecture)
            config = ModelConfig(**{**asdict(init_config), "metrics": {}, "training": {}})
            config.gsd_m = o.gsd_m or init_config.gsd_m
            return config, model
        config = self._config()
        model = build_model(config)
        if o.pretrained and init_pretrained_encoder(model, config):
            self.progress.info(f"Encoder initialised with ImageNet weights ({o.encoder}).")
        return config, model

    def _val_f1(self, extra: Any) -> float | None:
        """Building-level validation F1 of an epoch (None: the model has no instances)."""
        return None

    def _tune(self, config: ModelConfig, extra: Any) -> dict[str, Any]:
        """Set the threshold and the touching-building split that maximise validation building F1 (one-to-one
        matching at IoU 0.5, as evaluate_buildings); return the validation metrics."""
        prob, label, ids = extra
        choice = tune_split([p[0] for p in prob], ids, config.gsd_m)
        config.threshold = choice.threshold
        config.seed_threshold, config.seed_min_area_m2 = choice.seed_threshold, choice.seed_min_area_m2
        best_iou_threshold, best_iou = tune_threshold(prob, label)
        return {"val_iou": round(pixel_iou(prob, label, choice.threshold), 4), "val_threshold": choice.threshold,
                "val_building_precision": round(choice.precision, 4), "val_building_recall": round(choice.recall, 4),
                "val_building_f1": round(choice.f1, 4),
                "val_buildings": int(sum(len(np.unique(i[i > 0])) for i in ids)),
                "val_best_iou": round(best_iou, 4), "val_best_iou_threshold": best_iou_threshold}

    def run(self, keep_best_on_cancel: bool = True) -> str:
        import torch

        o = self.options
        random.seed(o.seed)
        np.random.seed(o.seed)
        torch.manual_seed(o.seed)
        if o.threads:
            torch.set_num_threads(o.threads)
        device = resolve_device(o.device)
        config, model = self._initial_model()
        self.config = config
        model.to(device)
        mean = np.asarray(config.mean, np.float32)
        std = np.asarray(config.std, np.float32)

        places, val_chips = self._open_places(config, mean)
        self._check_labels(places)
        if not val_chips:
            self._no_validation(config.gsd_m)
        self.progress.info(
            f"Training on {device}: {len(places)} raster(s), {self._labels_found(places)}, "
            f"{len(val_chips)} validation chips of {o.block_size} px at {config.gsd_m} m."
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=o.learning_rate, weight_decay=o.weight_decay)
        total_steps = o.epochs * o.steps_per_epoch
        self._total_steps, self._step = total_steps, 0
        self._clock_start, self._elapsed_before = time.monotonic(), 0.0
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: self._lr_factor())
        start_epoch, best_iou, best_state, stale = self._resume(model, optimizer, scheduler)
        self._step = start_epoch * o.steps_per_epoch
        np_rng = np.random.default_rng(o.seed + start_epoch)
        self._pool = [self._draw_chip(places, mean, np_rng) for _ in range(o.chip_pool)]
        best_extra: Any = None
        try:
            for epoch in range(start_epoch, o.epochs):
                t0 = time.monotonic()
                train_loss, train_iou = self._train_epoch(model, optimizer, scheduler, places, mean, std, np_rng,
                                                          device, epoch)
                val_loss, val_iou, extra = self._validate(model, val_chips, mean, std, device, config.threshold)
                f1 = self._val_f1(extra)
                self.history.append(EpochRecord(epoch + 1, train_loss, train_iou, val_loss, val_iou,
                                                time.monotonic() - t0, f1))
                self.progress.info(
                    f"epoch {epoch + 1}/{o.epochs}: train loss {train_loss:.4f}"
                    + (f" IoU {train_iou:.3f}" if train_iou is not None else "")
                    + f", val loss {val_loss:.4f} IoU {val_iou:.3f}" + (f" F1 {f1:.3f}" if f1 is not None else "")
                    + f" ({time.monotonic() - t0:.0f} s)"
                )
                score = val_iou if f1 is None else f1  # early stopping: building F1 where there is one
                if score > best_iou or best_state is None or not val_chips:  # no validation: keep the last
                    best_iou, stale = score, 0
                    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                    best_extra = extra
                else:
                    stale += 1
                self._checkpoint(model, optimizer, scheduler, epoch + 1, best_iou, best_state, stale)
                if stale >= o.patience:
                    self.progress.info(f"Early stop: validation {'IoU' if f1 is None else 'F1'} did not improve for "
                                       f"{o.patience} epochs.")
                    break
                if o.max_minutes and self.elapsed_seconds() / 60 > o.max_minutes:
                    self.progress.info(f"Stopping: time budget of {o.max_minutes} min used.")
                    break
        except Cancelled:
            if not (keep_best_on_cancel and best_state is not None):
                raise
            self.progress.warning("Cancelled: writing the best model so far.")
        if best_state is None:
            raise BuildingExtractorError("Training stopped before finishing one epoch; no model was written.")
        model.load_state_dict(best_state)
        if best_extra is None:
            _, _, best_extra = self._validate(model, val_chips, mean, std, device, config.threshold)
        metrics = self._tune(config, best_extra)
        config.training = {
            "sources": [asdict(s) for s in self.sources], "validation": [asdict(s) for s in self.validation],
            "options": asdict(o), "epochs_run": len(self.history), "device": str(device),
            "history": [asdict(h) for h in self.history],
        }
        config.metrics = metrics if val_chips else {}
        config.versions = _versions()
        save_model_file(self.output, config, best_state)
        return self.output

    def _open_places(self, config: ModelConfig, mean: np.ndarray) -> tuple[list[_Place], list[Any]]:
        """The training rasters (with their validation blocks held out by place) and the validation chips."""
        o = self.options
        rng = random.Random(o.seed)
        places = [self._open_place(s, config) for s in self.sources]
        val_places = [self._open_place(s, config) for s in self.validation]
        if not val_places:
            for place in places:
                if place.source.separate_buildings:
                    split_blocks(place, o.block_size, o.val_fraction, rng)
        return places, self._validation_chips(places, val_places, mean)

    def _check_labels(self, places: list[_Place]) -> None:
        check_labels(places, self.progress)

    def _labels_found(self, places: list[_Place]) -> str:
        """The labels read, for the log line that starts training."""
        return f"{sum(len(p.polygons) for p in places)} footprints"

    def _open_place(self, source: TrainingSource, config: ModelConfig) -> _Place:
        return with_inputs(self.place_type(source, config.gsd_m, config.band_count), config)

    def retune(self, model_path: str) -> dict[str, Any]:
        """Tune an existing model file's thresholds on this trainer's validation data (the same blocks training
        held out, given the same sources and seed) and store them in the file; the weights stay bit for bit."""
        from ..models.builders import load_model
        from ..models.model_file import update_config

        config, model = load_model(model_path, expected_architecture=self.architecture)
        self.config = config
        device = resolve_device(self.options.device)
        model.to(device)
        mean, std = np.asarray(config.mean, np.float32), np.asarray(config.std, np.float32)
        _, val_chips = self._open_places(config, mean)
        if not val_chips:
            self._no_validation(config.gsd_m)
        _, _, extra = self._validate(model, val_chips, mean, std, device, config.threshold)
        metrics = self._tune(config, extra)
        update_config(model_path, threshold=config.threshold, seed_threshold=config.seed_threshold,
                      seed_min_area_m2=config.seed_min_area_m2, metrics={**config.metrics, **metrics})
        return metrics

    def elapsed_seconds(self) -> float:
        """Training time so far, including the runs this one resumed."""
        return self._elapsed_before + time.monotonic() - self._clock_start

    def _lr_factor(self) -> float:
        """Linear warm-up over 5 % of training, then cosine decay to 2 %.

        With a time budget, training progress is the larger of steps done and budget used, so the learning
        rate anneals before the budget ends even on a slower (or busier) machine than planned.
        """
        total = max(getattr(self, "_total_steps", 1), 1)
        done = self._step / total
        if self.options.max_minutes:
            done = max(done, self.elapsed_seconds() / (60 * self.options.max_minutes))
        warmup = 0.05
        if done < warmup and self._step < total * warmup:
            return max(0.02, self._step / (total * warmup))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    def _no_validation(self, gsd_m: float) -> None:
        """Refuse a run whose validation split came out empty, unless the user asked for no validation."""
        o = self.options
        if self.validation or o.val_fraction > 0:
            raise BuildingExtractorError(
                f"No validation blocks could be held out: each training raster needs room for at least two "
                f"blocks of {o.block_size} px at {gsd_m} m. Give a separate validation raster and footprints, "
                "use a smaller chip size or a coarser resolution, or set the validation fraction to 0 to train "
                "without validation."
            )
        self.progress.warning("No validation data (validation fraction 0): the last epoch is kept, the threshold "
                              "stays 0.5 and no validation metrics are recorded.")

    def _validation_chips(self, places: list[_Place], val_places: list[_Place], mean: np.ndarray) -> list[Any]:
        size = self.options.block_size
        chips = []
        for place in val_places:
            grid = place.raster.grid
            for r in range(0, grid.height, size):
                for c in range(0, grid.width, size):
                    chips.append(self._val_chip(place, r, c, size, mean))
        for place in places:
            for r, c, _, _ in place.val_blocks:
                chips.append(self._val_chip(place, r, c, size, mean))
        return chips

    def _val_chip(self, place: _Place, row: int, col: int, size: int, mean: np.ndarray) -> tuple[np.ndarray, ...]:
        """(image, 0/1 label, building ids): the ids let validation tune how touching buildings are split."""
        image, ids = place.read_chip(row, col, size, size, mean, instances=True)
        label = (ids > 0) & ~touching_seams(ids) if self.options.touching_gaps else ids > 0
        return image, np.where(ids >= 0, label, IGNORE).astype(np.uint8), ids

    def _sample_chip(self, places: list[_Place], mean: np.ndarray, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
        """A training chip (augmented unless disabled), fresh or from the fixed pool."""
        if self._pool:
            image, label = self._pool[int(rng.integers(len(self._pool)))]
        else:
            image, label = self._draw_chip(places, mean, rng)
        return augment(image, label, rng) if self.options.augment else (image, label)

    def _draw_chip(self, places: list[_Place], mean: np.ndarray, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
        """A chip at a random place outside the validation blocks, with GSD jitter; not augmented."""
        size = self.options.chip_size
        weights = chip_shares(places)
        for _ in range(100):
            place = places[int(rng.choice(len(places), p=weights / weights.sum()))]
            scale = float(np.exp(rng.uniform(math.log(0.85), math.log(1.18))))  # GSD jitter
            read = int(round(size * scale))
            grid = place.raster.grid
            row = int(rng.integers(0, max(1, grid.height - read + 1)))
            col = int(rng.integers(0, max(1, grid.width - read + 1)))
            if not _overlaps_val(place, row, col, read):
                image, label = place.read_chip(row, col, read, size, mean, self.instances,
                                                self.options.touching_gaps)
                if ((label >= 0) if self.instances else (label != IGNORE)).mean() > 0.2:
                    return image, label
        raise BuildingExtractorError("Could not sample training chips outside the validation blocks; "
                                     "lower the validation fraction or give more training area.")

    def _train_epoch(self, model: Any, optimizer: Any, scheduler: Any, places: list[_Place], mean: np.ndarray,
                     std: np.ndarray, rng: np.random.Generator, device: Any, epoch: int) -> tuple[float, float]:
        import torch

        o = self.options
        model.train()
        losses, inter, union = [], 0.0, 0.0
        for step in range(o.steps_per_epoch):
            if self.progress.is_canceled():
                raise Cancelled()
            batch = [self._sample_chip(places, mean, rng) for _ in range(o.batch_size)]
            x = torch.from_numpy(np.stack([(b[0] - mean[:, None, None]) / std[:, None, None] for b in batch]))
            y = self._target(np.stack([b[1] for b in batch]))
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = self.loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self._step += 1
            scheduler.step()
            losses.append(float(loss.detach()))
            with torch.no_grad():
                batch_inter, batch_union = self._overlap(logits, y)
                inter += batch_inter
                union += batch_union
            self.progress.set_fraction((epoch + (step + 1) / o.steps_per_epoch) / o.epochs)
        return float(np.mean(losses)), inter / max(union, 1.0)

    def _target(self, labels: np.ndarray) -> Any:
        """The loss's target tensor from a batch of labels (n, h, w)."""
        import torch

        return torch.from_numpy(labels)[:, None]

    def _overlap(self, logits: Any, target: Any) -> tuple[float, float]:
        """Intersection and union of predicted and true building pixels in a training batch."""
        known = target != IGNORE
        pred = (logits > 0) & known
        truth = (target == 1) & known
        return float((pred & truth).sum()), float((pred | truth).sum())

    def _validate(self, model: Any, chips: list[Any], mean: np.ndarray, std: np.ndarray, device: Any,
                  threshold: float) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
        import torch

        model.eval()
        losses, probs, labels = [], [], []
        with torch.inference_mode():
            for i in range(0, len(chips), 4):
                part = chips[i:i + 4]
                x = torch.from_numpy(np.stack([(c[0] - mean[:, None, None]) / std[:, None, None] for c in part]))
                y = torch.from_numpy(np.stack([c[1] for c in part]))[:, None]
                logits = model(x.to(device)).cpu()
                losses.append(float(self.loss(logits, y)))
                probs.append(torch.sigmoid(logits).numpy().astype(np.float16))
                labels.append(y.numpy())
        prob = np.concatenate(probs) if probs else np.zeros((0, 1, 1, 1), np.float16)
        label = np.concatenate(labels) if labels else np.zeros((0, 1, 1, 1), np.uint8)
        ids = [c[2] for c in chips]
        return float(np.mean(losses)) if losses else 0.0, pixel_iou(prob, label, threshold), (prob, label, ids)

    def _checkpoint(self, model: Any, optimizer: Any, scheduler: Any, epoch: int, best_iou: float,
                    best_state: dict[str, Any], stale: int) -> None:
        if self.checkpoint_dir is None:
            return
        import torch

        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "best_state": best_state}
        tmp = self.checkpoint_dir / "checkpoint.pt.part"
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_dir / "checkpoint.pt")
        meta = {"epoch": epoch, "best_iou": best_iou, "stale": stale, "history": [asdict(h) for h in self.history],
                "elapsed_seconds": self.elapsed_seconds()}
        (self.checkpoint_dir / "checkpoint.json").write_text(json.dumps(meta, indent=1))

    def _resume(self, model: Any, optimizer: Any, scheduler: Any) -> tuple[int, float, Any, int]:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / "checkpoint.json").exists():
            return 0, -1.0, None, 0
        import torch

        meta = json.loads((self.checkpoint_dir / "checkpoint.json").read_text())
        # Our own checkpoint; weights_only refuses anything but tensors and plain containers.
        state = torch.load(self.checkpoint_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self.history = [EpochRecord(**h) for h in meta["history"]]
        self._elapsed_before = float(meta.get("elapsed_seconds", 0.0))
        self.progress.info(f"Resumed from checkpoint after epoch {meta['epoch']}.")
        return meta["epoch"], meta["best_iou"], state["best_state"], meta["stale"]


def pixel_iou(prob: np.ndarray, label: np.ndarray, threshold: float) -> float:
    """IoU of ``prob >= threshold`` against label 1, ignoring IGNORE pixels."""
    known = label != IGNORE
    pred = (prob >= threshold) & known
    truth = (label == 1) & known
    union = np.count_nonzero(pred | truth)
    return float(np.count_nonzero(pred & truth) / union) if union else 0.0


def tune_threshold(prob: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """The probability threshold in 0.3-0.7 that maximises validation IoU, and that IoU."""
    best = (0.5, pixel_iou(prob, label, 0.5))
    for threshold in np.arange(0.30, 0.71, 0.05):
        iou = pixel_iou(prob, label, float(threshold))
        if iou > best[1] + 1e-6:
            best = (round(float(threshold), 2), iou)
    return best


def _versions() -> dict[str, str]:
    import segmentation_models_pytorch as smp
    import torch

    from ... import __version__

    return {"torch": torch.__version__, "segmentation_models_pytorch": smp.__version__,
            "building_extractor": __version__}
