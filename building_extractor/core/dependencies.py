"""Which optional Python packages are missing, and how to install them (no heavy imports here)."""

from __future__ import annotations

import importlib.util

# import name -> pip requirement the user should install
RUNTIME_PACKAGES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
    "timm": "timm",
    "safetensors": "safetensors",
    "scipy": "scipy",  # watershed that splits touching buildings (core.split)
}
GEO_PACKAGES = {"rasterio": "rasterio", "shapely": "shapely", "osgeo": "GDAL"}


def missing_packages(names: dict[str, str] | None = None) -> list[str]:
    """Return the pip names of the packages in ``names`` (default: all runtime ones) that are missing."""
    names = names if names is not None else {**GEO_PACKAGES, **RUNTIME_PACKAGES}
    return [pip for module, pip in names.items() if importlib.util.find_spec(module) is None]


def install_hint(missing: list[str]) -> str:
    """A message telling users what is missing and the command that installs it."""
    geo = [m for m in missing if m in GEO_PACKAGES.values()]
    pip = [m for m in missing if m not in geo]
    lines = [f"building_extractor needs Python packages that are not installed: {', '.join(missing)}."]
    if pip:
        lines.append(
            "Install them into the Python that QGIS uses, e.g. from the OSGeo4W shell or a terminal: "
            f"python3 -m pip install {' '.join(pip)}"
        )
    if geo:
        lines.append(
            "Install the GDAL-linked packages from your QGIS distribution (Debian/Ubuntu: "
            "apt install python3-rasterio python3-shapely python3-gdal); do not pip-install them."
        )
    return " ".join(lines)
