"""Which devices this machine can run the models on, found without importing torch (the plugin loads fast
and without its optional packages). One place: the DEVICE parameter, the load-time log line and the
diagnostics read it; another runtime (e.g. onnxruntime providers) adds its devices here."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import platform
import re
import sys

#: Every device name the algorithms understand; ``available_devices`` offers those this machine has.
ALL_DEVICES = ("auto", "cpu", "cuda", "mps", "directml", "coreml")


def torch_cuda_version() -> str | None:
    """The CUDA version the installed torch was built for (None: no torch, or a CPU-only build).

    Read from torch/version.py as text: importing torch takes seconds and must not happen at plugin load.
    """
    if "torch" in sys.modules:  # already imported (or blocked: None)
        return getattr(getattr(sys.modules["torch"], "version", None), "cuda", None)
    spec = _find("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(version_file, encoding="utf-8") as handle:
            match = re.search(r"^cuda\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def _find(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a broken install counts as none
        return None


def nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is installed (Linux: loaded kernel module; Windows: nvcuda.dll)."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version")
    if sys.platform == "win32":
        return ctypes.util.find_library("nvcuda") is not None
    return False


def apple_gpu_present() -> bool:
    """Apple silicon (torch's ``mps`` backend)."""
    return sys.platform == "darwin" and platform.machine() == "arm64"


def onnxruntime_build() -> str | None:
    """Which onnxruntime package is installed: ``onnxruntime``, ``onnxruntime-gpu`` (CUDA) or
    ``onnxruntime-directml`` (Windows GPUs); None without one. Read from the package metadata: no import."""
    import importlib.metadata

    for distribution in ("onnxruntime-gpu", "onnxruntime-directml", "onnxruntime"):
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return distribution
    return None


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and the GPUs the installed runtimes can use on this machine: ``cuda`` (torch's CUDA build
    or onnxruntime-gpu, with an NVIDIA driver), ``mps`` (torch on Apple silicon), ``directml``
    (onnxruntime-directml) and ``coreml`` (onnxruntime on macOS)."""
    devices = ["auto", "cpu"]
    # The cheap hardware checks first: without a GPU, torch is not even looked up.
    build = onnxruntime_build()
    if nvidia_driver_present() and (torch_cuda_version() or build == "onnxruntime-gpu"):
        devices.append("cuda")
    if apple_gpu_present() and _find("torch") is not None:
        devices.append("mps")
    if build == "onnxruntime-directml":
        devices.append("directml")
    if sys.platform == "darwin" and build is not None:
        devices.append("coreml")
    return devices


def device_problem(name: str | None) -> str | None:
    """Why DEVICE ``name`` cannot be used here (None: it can), naming the devices that can."""
    name = (name or "auto").lower()
    available = available_devices()
    if name in available:
        return None
    usable = ", ".join(available)
    if name == "cuda":
        return (f"DEVICE=cuda was asked for, but this machine sees no CUDA GPU (NVIDIA driver: "
                f"{'yes' if nvidia_driver_present() else 'no'}; torch CUDA build: {torch_cuda_version()}; "
                f"onnxruntime package: {onnxruntime_build()}, CUDA needs onnxruntime-gpu). Use one of: {usable}.")
    if name in ("directml", "coreml"):
        package = "onnxruntime-directml (Windows)" if name == "directml" else "onnxruntime on macOS"
        return f"DEVICE={name} needs {package}. Use one of: {usable}."
    if name == "mps":
        return f"DEVICE=mps needs an Apple silicon Mac with torch installed. Use one of: {usable}."
    return f"Unknown DEVICE {name!r}. Use one of: {usable}."
