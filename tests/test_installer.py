"""The installer for real: onnxruntime from PyPI into a fresh QGIS profile, then both extraction algorithms with
that profile and nothing else, through qgis_process with no venv.

qgis_process runs with Debian's Python and the staged plugin only (the venv, which has onnxruntime and torch, is
not on its path), so the profile folder is the only place onnxruntime can come from; torch, timm, smp and
safetensors are not installed there at all, and rasterio and fiona (Debian has them) are made unimportable
(tests/lean_python/sitecustomize.py): what QGIS's own installers ship, plus the profile folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
SYSTEM_PYTHON = "/usr/bin/python3"
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
BLOCKER = ROOT / "tests" / "lean_python"
NOT_SHIPPED_BY_QGIS = ("rasterio", "fiona")
NOT_INSTALLED = ("torch", "torchvision", "timm", "segmentation_models_pytorch", "safetensors", "onnx")


def clean_qgis_env(profile: Path) -> dict[str, str]:
    """qgis_process's environment: a profile of its own, the staged plugin, no venv packages."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    runtime = profile / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(profile), QGIS_PLUGINPATH=str(ROOT / "build" / "plugins"),
               QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime), PYTHONWARNINGS="ignore::DeprecationWarning",
               PATH="/usr/bin:/bin", PYTHONPATH=str(BLOCKER), BUILDING_EXTRACTOR_BLOCK=",".join(NOT_SHIPPED_BY_QGIS))
    return env


def qgis_process(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run([QGIS_PROCESS, "--json", *args], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{"):])


@pytest.fixture(scope="module")
def staged_plugin() -> Path:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stage.py"), "--quiet"], check=True, cwd=ROOT)
    return ROOT / "build" / "plugins"


def features(path: Path) -> list[tuple]:
    """(geometry WKB, attributes) of every feature, in order."""
    from osgeo import ogr

    source = ogr.Open(str(path))
    rows = [(bytes(f.GetGeometryRef().ExportToWkb()), tuple(f.GetField(i) for i in range(f.GetFieldCount())))
            for f in source.GetLayer(0)]
    source = None
    return rows


def venv_run(algorithm: str, output: Path) -> None:
    """The same extraction with the full install (the venv) and the onnxruntime backend: the reference."""
    result = subprocess.run([str(ROOT / "bin" / "qgis_process"), "run", f"building_extractor:{algorithm}",
                             f"--INPUT={SAMPLE}", "--BACKEND=onnxruntime", f"--OUTPUT={output}"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_install_into_a_fresh_profile_extract_then_uninstall(tmp_path, staged_plugin) -> None:
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin is not installed")
    profile = tmp_path / "profile"
    env = clean_qgis_env(profile)
    absent = subprocess.run([SYSTEM_PYTHON, "-c", "import importlib.util, sys; print([m for m in sys.argv[1:] if "
                             "importlib.util.find_spec(m)])", *NOT_INSTALLED], capture_output=True, text=True,
                            env={"PATH": "/usr/bin"})
    assert absent.stdout.strip() == "[]", f"installed in Debian's Python: {absent.stdout}"
    subprocess.run([QGIS_PROCESS, "plugins", "enable", "building_extractor"], env=env, capture_output=True,
                   timeout=300)
    first = qgis_process(env, "run", "building_extractor:install_dependencies")
    folder = Path(first["results"]["FOLDER"])
    assert folder.parent.parent == profile / "profiles" / "default"
    assert "onnxruntime==" in first["results"]["INSTALLED"]  # the venv is not on the path: it had to install
    assert (folder / "onnxruntime").is_dir() and not (folder / "numpy").exists()  # QGIS's numpy is kept
    # Debian's own Python finds onnxruntime there, with the system's numpy.
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import numpy, onnxruntime; print(onnxruntime.__file__); "
                            "print(numpy.__file__); print(onnxruntime.get_available_providers())"],
                           capture_output=True, text=True, env={"PYTHONPATH": str(folder), "PATH": "/usr/bin"})
    assert probe.returncode == 0, probe.stderr
    onnx_file, numpy_file, providers = probe.stdout.splitlines()
    assert onnx_file.startswith(str(folder)) and numpy_file.startswith("/usr/lib/python3/")
    assert "CPUExecutionProvider" in providers
    # Extraction with that profile and nothing else gives the full install's buildings.
    for algorithm in ("extract_buildings_unet", "extract_buildings_maskrcnn"):
        lean, full = tmp_path / f"{algorithm}_lean.gpkg", tmp_path / f"{algorithm}_full.gpkg"
        run = qgis_process(env, "run", f"building_extractor:{algorithm}", f"--INPUT={SAMPLE}", f"--OUTPUT={lean}")
        assert Path(run["results"]["OUTPUT"]) == lean
        venv_run(algorithm, full)
        found = features(lean)
        assert len(found) > 10 and found == features(full), algorithm
    # A second run finds everything importable: the plugin put the folder on QGIS's path at load.
    again = qgis_process(env, "run", "building_extractor:install_dependencies")
    assert again["results"]["INSTALLED"] == ""
    qgis_process(env, "run", "building_extractor:install_dependencies", "--UNINSTALL=true")
    assert not folder.exists()


def test_offline_install_from_a_wheel_folder_without_network(tmp_path) -> None:
    """pip reads the given folder only (--no-index): a wheel that is there installs, one that is not fails clearly,
    and the failed run leaves the earlier installation as it was."""
    from building_extractor.core.errors import BuildingExtractorError
    from building_extractor.core.installer import InstallPlan, install

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "tinypkg-1.0-py3-none-any.whl"
    make_wheel(wheel, "tinypkg", "1.0")
    target = tmp_path / "profile" / "building_extractor" / "python"
    lines: list[str] = []
    install(InstallPlan(SYSTEM_PYTHON, str(target), ["tinypkg==1.0"], wheel_dir=str(wheels)), lines.append)
    assert (target / "tinypkg" / "__init__.py").exists()
    assert any("Successfully installed tinypkg-1.0" in line for line in lines)
    with pytest.raises(BuildingExtractorError, match="pip failed.*wheel folder"):
        install(InstallPlan(SYSTEM_PYTHON, str(target), ["otherpkg==2.0"], wheel_dir=str(wheels)), lines.append)
    assert (target / "tinypkg" / "__init__.py").exists() and not Path(str(target) + ".partial").exists()


def test_training_step_resolves_dependencies_but_never_keeps_numpy(tmp_path) -> None:
    """The training set is installed with its dependencies (constraints file, no --no-deps); a numpy that pip
    brings along is removed from the folder, so QGIS's own numpy stays the one imported. Offline, from wheels."""
    import numpy

    from building_extractor.core.installer import InstallPlan, install

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels / "trainpkg-1.0-py3-none-any.whl", "trainpkg", "1.0", requires=["numpy"])
    make_wheel(wheels / f"numpy-{numpy.__version__}-py3-none-any.whl", "numpy", numpy.__version__)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(f"numpy=={numpy.__version__}\n")
    target = tmp_path / "python"
    lines: list[str] = []
    install(InstallPlan(SYSTEM_PYTHON, str(target), ["trainpkg==1.0"], wheel_dir=str(wheels),
                        constraints=str(constraints)), lines.append)
    assert any(f"numpy-{numpy.__version__}" in line for line in lines if "Successfully installed" in line)
    assert (target / "trainpkg").is_dir()
    assert not list(target.glob("numpy*")), sorted(p.name for p in target.iterdir())


def make_wheel(path: Path, name: str, version: str, requires: list[str] = ()) -> None:
    """A minimal pure-Python wheel (a package with an empty __init__), written by hand: no build tools."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": b"",
             f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                  + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
                     f"{len(d)}\n" for p, d in files.items()) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in_zip, data in {**files, f"{info}/RECORD": record.encode()}.items():
            archive.writestr(name_in_zip, data)
