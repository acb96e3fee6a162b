"""What a bug report needs: versions, runtimes, devices and model files (QGIS-free; nothing heavy imported)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

from .dependencies import (
    ALGORITHM_PACKAGES,
    ALL_PACKAGES,
    EXTRACTION_PACKAGES,
    EXTRACTION_RUNTIMES,
    OPENVINO_RUNTIME,
    missing_for,
)
from .models.devices import available_devices, nvidia_driver_present, torch_cuda_version
from .models.model_file import SHIPPED_MODELS_DIR, read_config


def package_version(pip_name: str) -> str | None:
    """The installed version of a distribution (None: not installed), read from its metadata, not imported."""
    if pip_name == "GDAL":
        try:
            from osgeo import gdal

            return gdal.__version__
        except ImportError:
            return None
    try:
        return importlib.metadata.version(pip_name)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_summary() -> str:
    """One line: the runtime found, the devices, and what extraction still misses (the plugin's load message)."""
    # Installed distributions, read from their metadata: at plugin load nothing is imported or even looked up.
    # The torch version names its build (e.g. +cu130, +cpu).
    found = [f"{name} {version}" for name in ("onnxruntime", "openvino", "torch")
             if (version := package_version(name))]
    missing = [pip for pip in EXTRACTION_PACKAGES.values() if package_version(pip) is None]
    if not any(all(package_version(pip) for pip in runtime.values()) for runtime in EXTRACTION_RUNTIMES):
        missing += [pip for pip in EXTRACTION_RUNTIMES[0].values() if package_version(pip) is None]
    return (f"runtime: {', '.join(found) or 'none'}; devices: {', '.join(available_devices())}; "
            + (f"missing for extraction: {', '.join(missing)}" if missing else "extraction ready"))


def model_files(folders: list[str]) -> list[tuple[str, str]]:
    """(path, description) of the model files in the shipped models folder and ``folders``."""
    found = []
    for folder in [str(SHIPPED_MODELS_DIR), *[f for f in folders if f]]:
        for path in sorted(Path(folder).glob("*.safetensors")) if os.path.isdir(folder) else []:
            try:
                config = read_config(path)
                about = (f"{config.architecture}/{config.encoder}, {config.gsd_m} m, tile {config.tile_size}, "
                         f"{path.stat().st_size / 1e6:.1f} MB")
            except Exception as exc:  # noqa: BLE001 - a bad file is reported, not fatal
                about = f"unreadable: {exc}"
            found.append((str(path), about))
    return found


def report(extra: list[tuple[str, str]] | None = None, model_folders: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, value) rows of the diagnostics report; ``extra`` rows (e.g. QGIS's version) come first."""
    from .. import __version__

    rows = [*(extra or []), ("building_extractor", __version__), ("Python", sys.version.split()[0]),
            ("platform", f"{platform.system()} {platform.release()} {platform.machine()}")]
    names = {pip for packages in (ALL_PACKAGES, EXTRACTION_PACKAGES, *EXTRACTION_RUNTIMES, OPENVINO_RUNTIME)
             for pip in packages.values()}
    rows += [(name, package_version(name) or "not installed") for name in sorted(names, key=str.lower)]
    rows += [("numpy", package_version("numpy") or "not installed"),
             ("devices", ", ".join(available_devices())),
             ("torch CUDA build", str(torch_cuda_version())),
             ("NVIDIA driver", "yes" if nvidia_driver_present() else "no")]
    for algorithm in sorted(ALGORITHM_PACKAGES):
        missing = missing_for(algorithm)
        rows.append((f"{algorithm} can run", "yes" if not missing else f"no, missing {', '.join(missing)}"))
    rows += [(f"model {path}", about) for path, about in model_files(model_folders or [])]
    return rows
