"""Per-image normalisation of pixel values before the model (``NORMALIZE``), for hazy or faded imagery.

Haze adds light scattered by the air and dims the ground's own: I' = I·t + A·(1 − t) (t the transmission, A the
airlight), a linear squeeze of the image's range towards the airlight. ``match`` undoes such a squeeze with one
linear stretch for all bands (the same gain and offset, so colours keep their balance): the image's range, from
the lowest band's 2nd to the highest band's 98th percentile over the whole image (a decimated read, from
overviews where the raster has them), is mapped onto the range of the shipped models' training imagery.
Measured on hazy, faded and clean held-out imagery in MODELS.md ("Hazy imagery"), with the command.
"""

from __future__ import annotations

import numpy as np

from ..errors import BuildingExtractorError

NORMALIZATIONS = {"none": "None", "match": "Stretch to the training imagery's range (hazy or faded images)"}
PERCENTILES = (2.0, 98.0)
# Per band (red, green, blue), 8-bit values: the mean over the shipped models' training rasters
# (banepa/train.tif, zanzibar/image_1.tif, zanzibar/image_2.tif) of each raster's 2nd and 98th percentiles;
# `match` aims at their means (46.3-211.3). `scripts/evaluate_haze.py --training-range` measures them.
TRAINING_LOW = (46.0, 60.0, 33.0)
TRAINING_HIGH = (211.0, 214.0, 209.0)


def check_normalization(mode: str) -> str:
    """``mode`` if it is a key of :data:`NORMALIZATIONS`; else an error naming the valid ones."""
    if mode not in NORMALIZATIONS:
        raise BuildingExtractorError(f"Unknown NORMALIZE mode {mode!r}; use one of {', '.join(NORMALIZATIONS)}.")
    return mode


def band_percentiles(sample: np.ma.MaskedArray) -> tuple[np.ndarray, np.ndarray]:
    """Per band, the 2nd and 98th percentiles of the valid values of ``sample`` (bands, rows, columns).

    A band without valid values gets 0-255; a constant band a range of one unit (no division by zero).
    """
    lows, highs = [], []
    for band in sample:
        values = band.compressed()
        if values.size == 0:
            lows.append(0.0), highs.append(255.0)
            continue
        low, high = np.percentile(values, PERCENTILES)
        lows.append(float(low)), highs.append(float(high if high > low else low + 1))
    return np.array(lows, np.float32), np.array(highs, np.float32)


def training_range() -> tuple[float, float]:
    """The range (8-bit units) ``match`` stretches images to: the training rasters' mean 2nd and 98th percentiles."""
    return float(np.mean(TRAINING_LOW)), float(np.mean(TRAINING_HIGH))


def match_training_range(low: np.ndarray, high: np.ndarray, input_scale: float
                         ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Per-band (offset, scale) in the form :class:`~.inference.TileReader` applies (value − offset) · scale /
    input_scale, 0-1 for 0-255) that take min(``low``) to the training range's low end and max(``high``) to
    its high end, the same for every band; and the image range (lowest low, highest high) it used."""
    image_low, image_high = float(np.min(low)), float(np.max(high))
    image_high = max(image_high, image_low + 1.0)
    target_low, target_high = training_range()
    gain = (target_high - target_low) / (image_high - image_low)
    count = len(low)
    offset = np.full(count, image_low - target_low / gain, np.float32)
    return offset, np.full(count, gain * input_scale / 255.0, np.float32), (image_low, image_high)
