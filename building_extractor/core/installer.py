"""Install the extraction runtime into a folder of the plugin's own, with QGIS's own Python and pip.

Why a folder of our own (``<QGIS profile>/building_extractor/python``) and ``pip install --target``: it needs no
administrator rights, works where PEP 668 refuses installs into the system Python (Debian 12, Ubuntu 23.04+),
touches nothing QGIS ships, and is undone by deleting the folder. ``--no-deps`` and an explicit, pinned list
keep pip from bringing a second numpy (or anything else QGIS already has): onnxruntime's other requirements
(protobuf, sympy, flatbuffers, coloredlogs) serve its tools, not ``InferenceSession``. The plugin appends the
folder to ``sys.path`` at load (:func:`add_to_path`), after QGIS's own packages, so those always win.

Nothing here imports QGIS; the Processing algorithm and the Plugins menu action are thin adapters.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BuildingExtractorError, Cancelled

FOLDER_NAME = os.path.join("building_extractor", "python")  # inside the QGIS profile folder
# The lean extraction set (issue 19): import name -> pinned pip requirement. Pure-Python or self-contained
# wheels only: none bundles GDAL, GEOS or PROJ. scipy is installed only where QGIS lacks it (macOS and
# Windows installers ship it; scipy wheels are safe inside QGIS).
LEAN_REQUIREMENTS = {
    "onnxruntime": "onnxruntime==1.31.1",
    "affine": "affine==2.4.0",
    "scipy": "scipy==1.15.3",
}
# Optional: OpenVINO, the BACKEND=openvino runtime for the U-Net family (about twice onnxruntime's speed on CPUs
# with native bf16, outlines within masks IoU 0.99 of fp32; BENCHMARKS.md). A large download: its wheel is
# 59 MB on Linux x86-64, 85 MB on Windows, 33 MB on macOS arm64 (no macOS x86-64 wheel); it needs only numpy
# (>= 1.16.6, < 2.6) and runs without its openvino-telemetry dependency.
OPENVINO_REQUIREMENTS = {"openvino": "openvino==2026.4.1"}
# Optional second step: training and the torch backend (the pins of requirements.txt). Their own dependencies
# are resolved by pip, with numpy held at QGIS's version. PyPI's torch wheel for Linux is the CUDA build
# (about 3 GB with its NVIDIA libraries); CPU-only wheels come from PyTorch's own index (TORCH_CPU_INDEX).
TRAINING_REQUIREMENTS = {
    "torch": "torch==2.14.1",
    "torchvision": "torchvision==0.29.1",
    "segmentation_models_pytorch": "segmentation-models-pytorch==0.6.0",
    "timm": "timm==1.0.31",
    "safetensors": "safetensors==0.8.0",
}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Never left in the folder, even when pip resolved them as dependencies (training set): QGIS's own numpy must be
# the one imported, and wheels of the others bundle their own GDAL, GEOS or PROJ, which crash inside QGIS.
PROTECTED = ("numpy", "osgeo", "GDAL", "shapely", "rasterio", "fiona", "pyproj")


@dataclass
class InstallPlan:
    """What :func:`install` will run: the interpreter, the folder and the requirements."""

    python: str
    target: str
    requirements: list[str]
    wheel_dir: str | None = None
    index_url: str | None = None
    constraints: str | None = None  # a constraints file: with it pip resolves dependencies (training set)

    def command(self, staging: str) -> list[str]:
        """The pip command line, installing into ``staging`` (renamed to ``target`` when pip succeeds)."""
        command = [self.python, "-m", "pip", "install", "--target", staging, "--only-binary=:all:",
                   "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        command += ["--constraint", self.constraints] if self.constraints else ["--no-deps"]
        if self.wheel_dir:
            command += ["--no-index", "--find-links", self.wheel_dir]
        elif self.index_url:
            command += ["--index-url", self.index_url]
        return command + self.requirements


def packages_dir(profile_dir: str) -> str:
    """The plugin's package folder inside a QGIS profile folder (``QgsApplication.qgisSettingsDirPath()``)."""
    return os.path.join(profile_dir, FOLDER_NAME)


def add_to_path(folder: str) -> bool:
    """Append ``folder`` to ``sys.path`` when it exists (after QGIS's own packages); True if it is there now."""
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    return True


def needed_requirements(training: bool = False, openvino: bool = False) -> dict[str, str]:
    """Import name -> pinned requirement of the lean set (and the training set, and OpenVINO) this Python cannot
    import yet."""
    wanted = {**LEAN_REQUIREMENTS, **(OPENVINO_REQUIREMENTS if openvino else {}),
              **(TRAINING_REQUIREMENTS if training else {})}
    return {module: pin for module, pin in wanted.items() if importlib.util.find_spec(module) is None}


def python_for_pip() -> str:
    """This installation's Python (inside QGIS ``sys.executable`` is QGIS itself), with pip bootstrapped by
    ``ensurepip`` into the user's site when it has none."""
    from .workers import python_executable

    python = python_executable()
    if python is None:
        raise BuildingExtractorError(
            f"Cannot find the Python interpreter of this QGIS (looked in {sys.exec_prefix}). Install the packages "
            "by hand from the OSGeo4W shell or a terminal: python3 -m pip install --target "
            "<QGIS profile>/building_extractor/python onnxruntime affine")
    if subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        bootstrap = subprocess.run([python, "-m", "ensurepip", "--user", "--default-pip"], capture_output=True,
                                   text=True)
        if bootstrap.returncode != 0:
            raise BuildingExtractorError(
                f"QGIS's Python ({python}) has no pip and ensurepip could not add it ({bootstrap.stderr.strip()[-300:]}"
                "). Install pip for it (Debian/Ubuntu: apt install python3-pip), then run the installer again.")
    return python


def install(plan: InstallPlan, log: Callable[[str], None], is_canceled: Callable[[], bool] = lambda: False) -> str:
    """Run pip for ``plan``, streaming its output to ``log``; returns the target folder.

    pip writes into a staging folder beside the target, which replaces the target only when pip succeeded: a
    failed or cancelled run leaves the previous installation as it was.
    """
    if not plan.requirements:
        log("Nothing to install: every package is already importable.")
        return plan.target
    staging = plan.target + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(os.path.dirname(plan.target), exist_ok=True)
    if os.path.isdir(plan.target):  # keep what was installed before (pip --target replaces per package)
        shutil.copytree(plan.target, staging)
    command = plan.command(staging)
    log("Running: " + " ".join(command))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PIP_NO_COLOR": "1"})
    try:
        for line in process.stdout:
            log(line.rstrip())
            if is_canceled():
                process.kill()
                raise Cancelled()
        code = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if code != 0:
        shutil.rmtree(staging, ignore_errors=True)
        source = f"the wheel folder {plan.wheel_dir}" if plan.wheel_dir else "the package index (internet access?)"
        raise BuildingExtractorError(
            f"pip failed (exit code {code}); see the log above. Check {source}, or install by hand: "
            + " ".join(plan.command(plan.target)))
    for removed in prune(staging, PROTECTED):
        log(f"Removed {removed} from the folder: QGIS's own copy is used.")
    shutil.rmtree(plan.target, ignore_errors=True)
    os.replace(staging, plan.target)
    return plan.target


def prune(folder: str, names: tuple[str, ...]) -> list[str]:
    """Delete the packages ``names`` (their modules, ``.libs`` and ``.dist-info``) from a pip --target folder;
    returns the entries removed."""
    import glob

    removed = []
    for name in names:
        for pattern in (name, f"{name}.libs", f"{name}-*.dist-info", f"{name.lower()}-*.dist-info"):
            for path in glob.glob(os.path.join(folder, pattern)):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed.append(os.path.basename(path))
    return sorted(set(removed))


def check_imports(python: str, folder: str, modules: list[str]) -> list[str]:
    """The modules of ``modules`` that ``python`` cannot import with ``folder`` on its path (a fresh process:
    a half-broken package cannot take QGIS down)."""
    code = ("import importlib, sys\nbad = []\nfor m in sys.argv[1:]:\n    try:\n        importlib.import_module(m)\n"
            "    except Exception as exc:\n        bad.append(f'{m} ({exc})')\nprint('\\n'.join(bad))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), folder]))}
    result = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return [f"{m} ({result.stderr.strip()[-200:]})" for m in modules]
    return [line for line in result.stdout.splitlines() if line.strip()]


def uninstall(folder: str) -> bool:
    """Remove the plugin's package folder (and a staging leftover); True if there was one."""
    existed = os.path.isdir(folder)
    for path in (folder, folder + ".partial"):
        shutil.rmtree(path, ignore_errors=True)
    return existed
