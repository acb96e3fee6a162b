"""HTML report of a training run: the training curve (loss and IoU per epoch, train and validation) as an
embedded PNG, and tables of the model's config, metrics, options and data. Everything is read from the model
file's own description, so the report can be rebuilt from any model file train_model wrote."""

from __future__ import annotations

import math
from typing import Any

from ..errors import OutputError
from ..evaluate.report import Section, Table, write_html
from ..models.config import ModelConfig
from .training import UNET_LOSSES

MODEL_FIELDS = ("architecture", "encoder", "decoder_channels", "bands", "input_scale", "mean", "std", "gsd_m",
                "tile_size", "overlap", "threshold", "classes", "name", "description")


def training_curve(history: list[dict[str, Any]], loss: str = "bce_dice") -> Any:
    """A matplotlib Figure of loss and IoU per epoch for train and validation (Agg, no pyplot); ``loss``
    names the U-Net's training loss."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes, iou_axes = figure.subplots(1, 2)
    instances = any(h.get("val_f1") is not None for h in history)
    titles = (("loss", "Loss (Mask R-CNN)" if instances else f"Loss ({UNET_LOSSES.get(loss, (loss,))[0]})"),
              ("iou", "Pixel IoU and building F1" if instances else "Pixel IoU"))
    for axes, (key, title) in zip((loss_axes, iou_axes), titles):
        train = [_number(h[f"train_{key}"]) for h in history]
        if not all(math.isnan(v) for v in train):  # Mask R-CNN has no per-batch IoU
            axes.plot(epochs, train, "o-", label="train")
        axes.plot(epochs, [_number(h[f"val_{key}"]) for h in history], "s-", label="validation")
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    if instances:
        iou_axes.plot(epochs, [_number(h.get("val_f1")) for h in history], "^-", label="validation building F1")
        iou_axes.legend()
    iou_axes.set_ylim(0, 1)
    figure.tight_layout()
    return figure


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _rows(items: list[dict[str, Any]]) -> list[Table]:
    if not items:
        return []
    columns = list(items[0])
    return [Table(columns, [[item.get(c) for c in columns] for item in items])]


def training_sections(config: ModelConfig, model_path: str = "") -> list[Section]:
    """Report sections for a trained model (history, metrics and options come from ``config.training``)."""
    training = config.training or {}
    history = training.get("history", [])
    curve = Section("Training curve", text="" if history else "No epoch finished, so there is no curve.",
                    figures=[training_curve(history, training.get("options", {}).get("loss", "bce_dice"))]
                    if history else [])
    validation = training.get("validation", [])
    return [
        curve,
        Section("Validation metrics", values={"model file": model_path, **(config.metrics or {})}),
        Section("Model", values={k: getattr(config, k) for k in MODEL_FIELDS}),
        Section("Epochs", tables=_rows(history)),
        Section("Training options", values={k: v for k, v in training.get("options", {}).items()}),
        Section("Run", values={**{k: training[k] for k in ("epochs_run", "device") if k in training},
                               **(config.versions or {})}),
        Section("Training data", tables=_rows(training.get("sources", []))),
        Section("Validation data", tables=_rows(validation),
                text="" if validation else "Spatial blocks held out of the training rasters."),
    ]


def write_training_report(path: str, config: ModelConfig, model_path: str = "") -> str:
    """Write the HTML report to ``path`` and return the path."""
    try:
        return write_html(path, "Training report", training_sections(config, model_path),
                          subtitle=f"{config.architecture} · {config.encoder} · {config.gsd_m} m")
    except OSError as exc:
        raise OutputError(f"Cannot write the training report {path}: {exc}. Choose a writable path.") from exc
