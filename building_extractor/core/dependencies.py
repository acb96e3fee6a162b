"""Which optional Python packages each algorithm needs, which are missing, and how to get them.

One table (``ALGORITHM_PACKAGES``) says what each algorithm imports; the algorithms, the load-time log line
and the diagnostics report all read it, so changing a runtime means changing this table only. No heavy
imports here: ``importlib.util.find_spec`` only looks.
"""

from __future__ import annotations

import importlib.util

# import name -> pip requirement the user should install
TORCH_PACKAGES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
    "timm": "timm",
    "safetensors": "safetensors",
}
RUNTIME_PACKAGES = {**TORCH_PACKAGES, "scipy": "scipy"}  # scipy: watershed that splits touching buildings
GEO_PACKAGES = {"rasterio": "rasterio", "shapely": "shapely", "osgeo": "GDAL"}
ALL_PACKAGES = {**GEO_PACKAGES, **RUNTIME_PACKAGES}
# Extraction reads, warps and vectorizes through GDAL's own bindings: no rasterio (issue 19, the lean path).
# affine is pure Python (the installer adds it where QGIS lacks it).
EXTRACTION_PACKAGES = {"osgeo": "GDAL", "shapely": "shapely", "scipy": "scipy", "affine": "affine"}
# The model runtimes extraction runs on (core.models.backends): any one of them, complete, will do; the first is
# the one asked for when none is there (the installer installs it). OpenVINO runs the U-Net family only.
EXTRACTION_RUNTIMES = ({"onnxruntime": "onnxruntime"}, TORCH_PACKAGES)
OPENVINO_RUNTIME = {"openvino": "openvino"}

# algorithm id -> the packages it imports (import name -> pip name); algorithms not listed need none.
ALGORITHM_PACKAGES: dict[str, dict[str, str]] = {
    "extract_buildings_unet": EXTRACTION_PACKAGES,
    "extract_buildings_maskrcnn": EXTRACTION_PACKAGES,
    "train_model": ALL_PACKAGES,
    "export_model": {**RUNTIME_PACKAGES, "onnx": "onnx"},  # torch builds the network, onnx writes the file
    "evaluate_buildings": GEO_PACKAGES,
    "regularize_buildings": GEO_PACKAGES,
    "building_heights": GEO_PACKAGES,
}
# algorithm id -> the runtimes it can use (one is needed), beside its packages above.
ALGORITHM_RUNTIMES: dict[str, tuple[dict[str, str], ...]] = {
    "extract_buildings_unet": (*EXTRACTION_RUNTIMES, OPENVINO_RUNTIME),
    "extract_buildings_maskrcnn": EXTRACTION_RUNTIMES,
}
INSTALLER_ALGORITHM = "install_dependencies"  # building_extractor:install_dependencies, when it exists
INSTALLER_MENU = "Plugins ▸ Building Extractor ▸ Install dependencies"


def missing_packages(names: dict[str, str] | None = None) -> list[str]:
    """Return the pip names of the packages in ``names`` (default: all runtime ones) that are missing."""
    names = names if names is not None else ALL_PACKAGES
    return [pip for module, pip in names.items() if not _importable(module)]


def missing_for(algorithm_id: str) -> list[str]:
    """The pip names of the packages ``algorithm_id`` needs that are missing (empty: it can run); a missing
    runtime is named by its first choice."""
    missing = missing_packages(ALGORITHM_PACKAGES.get(algorithm_id, {}))
    runtimes = ALGORITHM_RUNTIMES.get(algorithm_id, ())
    if runtimes and all(missing_packages(runtime) for runtime in runtimes):
        missing += missing_packages(runtimes[0])
    return missing


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module whose __spec__ is None
        return False


def install_hint(missing: list[str], installer: bool = False) -> str:
    """A message telling users what is missing and how to install it.

    ``installer``: the plugin's own installer (``INSTALLER_MENU`` / ``INSTALLER_ALGORITHM``) is available,
    so it is named first; the pip command stays as the fallback.
    """
    geo = [m for m in missing if m in GEO_PACKAGES.values()]
    pip = [m for m in missing if m not in geo]
    lines = [f"building_extractor needs Python packages that are not installed: {', '.join(missing)}."]
    if pip and installer:
        lines.append(f"Install them with {INSTALLER_MENU} (or run the building_extractor:{INSTALLER_ALGORITHM} "
                     "algorithm), then run again.")
    if pip:
        lines.append(
            ("Or install them " if installer else "Install them ")
            + "into the Python that QGIS uses, e.g. from the OSGeo4W shell or a terminal: "
            f"python3 -m pip install {' '.join(pip)}"
        )
    if geo:
        lines.append(
            "Install the GDAL-linked packages from your QGIS distribution (Debian/Ubuntu: "
            "apt install python3-rasterio python3-shapely python3-gdal); do not pip-install them."
        )
    return " ".join(lines)
