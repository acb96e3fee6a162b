"""Start real QGIS desktop under Xvfb with the staged plugin and drive it like a user: Toolbox, dialogs.

QGIS runs with a profile of its own (``build/qgis-desktop``, ``[PythonPlugins] building_extractor=true``)
and ``--code`` runs ``desktop_probe.py`` inside it, which plays the scenarios: ``toolbox`` (the provider in
the Processing Toolbox), ``dialog`` (extract_buildings_unet run from its algorithm dialog, i.e. on a QGIS
worker thread) and ``batch`` (the batch dialog on the sample and two Kampala crops). It saves
<screenshots>/<scenario>.png and a JSON report, and quits QGIS.

Usage: desktop_screenshot.py [--scenarios toolbox,dialog,batch] [--screenshots build/screenshots]
                             [--timeout 420]
Exit status 0 when the plugin loaded and every scenario produced its outputs and picture.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "desktop_probe.py"
QGIS = "/usr/bin/qgis"
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
SHARED_DATA = ROOT.parent / "shared" / "data"


def desktop_env(profiles: Path, from_zip: bool = False) -> dict[str, str]:
    """Environment for QGIS desktop: the venv's packages, no host profile, and our staged plugin (or, from_zip,
    only the copy installed in the profile)."""
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # a real X display (Xvfb), not offscreen
    env.pop("QGIS_CUSTOM_CONFIG_PATH", None)  # pytest-qgis sets it; --profiles-path says where ours is
    env.pop("QGIS_PLUGINPATH", None)
    site = sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    plugin_paths = [] if from_zip else [str(ROOT / "build" / "plugins")]
    if not from_zip:
        env["QGIS_PLUGINPATH"] = str(ROOT / "build" / "plugins")
    env["PYTHONPATH"] = os.pathsep.join([*plugin_paths, *map(str, site)])
    env["PYTHONFAULTHANDLER"] = "1"  # a crash prints the Python stack of every thread to stderr
    env["XDG_RUNTIME_DIR"] = str(profiles / "runtime")
    (profiles / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def write_profile(profiles: Path) -> None:
    """A QGIS profile with the plugin enabled and first-run dialogs turned off."""
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(
        "[PythonPlugins]\nbuilding_extractor=true\nprocessing=true\n\n"
        "[qgis]\ncheckVersion=false\nshowTips=false\nshowTips322=false\n"
        "allowVersionCheck=false\n\n"
        "[core]\nNewsFeed\\httpsfeedqgisorg\\disabled=true\n"
    )


def install_from_zip(profiles: Path, dist: Path) -> Path:
    """Build the plugin zip and unpack it into the profile's python/plugins, as "Install from ZIP" does."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stage.py"), "--quiet", "--zip", "--dist", str(dist)],
                   check=True)
    [archive] = dist.glob("building_extractor-*.zip")
    plugins = profiles / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(plugins)
    return plugins / "building_extractor"


def make_batch_inputs(directory: Path, shared_data: Path = SHARED_DATA) -> list[Path]:
    """The shipped sample and two small crops of the Kampala images (EPSG:3857), for the batch dialog."""
    directory.mkdir(parents=True, exist_ok=True)
    rasters = [SAMPLE]
    for name, window in (("image_1", (384, 128, 768, 768)), ("image_2", (0, 0, 448, 448))):
        crop = directory / f"kampala_{name}_crop.tif"
        subprocess.run(["gdal_translate", "-q", "-srcwin", *map(str, window), "-co", "COMPRESS=DEFLATE",
                        str(shared_data / "kampala" / f"{name}.tif"), str(crop)], check=True)
        rasters.append(crop)
    return rasters


def run_desktop(scenarios: list[str], screenshots: Path, workdir: Path, batch_inputs: list[Path] = (),
                timeout: float = 300.0, scenario_timeout: float = 180.0, from_zip: bool = False,
                language: str = "") -> dict:
    """Run QGIS desktop with the probe playing ``scenarios``; return its report (RuntimeError on failure).

    ``timeout`` bounds the whole QGIS session (its process group is killed past it); ``scenario_timeout``
    is the probe's own watchdog per scenario, which still reports what happened when a run hangs.
    ``from_zip``: a fresh profile with the plugin installed from `make zip`'s zip, as a new user has it.
    ``language``: a locale (e.g. "fr_FR") for QGIS's interface and the plugin's translation; the system's by
    default.
    """
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stage.py"), "--quiet"], check=True)
    if shutil.which("xvfb-run") is None:
        raise RuntimeError("xvfb-run not found (Debian package xvfb; make setup installs it)")
    screenshots, workdir = screenshots.resolve(), workdir.resolve()
    screenshots.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    profiles = ROOT / "build" / "qgis-desktop"
    shutil.rmtree(profiles, ignore_errors=True)
    write_profile(profiles)
    installed = install_from_zip(profiles, workdir / "dist") if from_zip else None
    report_path = workdir / "desktop_report.json"
    report_path.unlink(missing_ok=True)
    env = desktop_env(profiles, from_zip)
    if language:  # QGIS's own texts follow --lang, QgsApplication.locale() (the plugin's translation) LANG
        env.update(LANG=f"{language}.UTF-8", LANGUAGE=language)
    env.update(BE_SCENARIOS=",".join(scenarios), BE_SCREENSHOTS=str(screenshots), BE_WORKDIR=str(workdir),
               BE_REPORT=str(report_path), BE_TIMEOUT=str(scenario_timeout), BE_SAMPLE=str(SAMPLE),
               BE_BATCH_INPUTS=os.pathsep.join(str(Path(p).resolve()) for p in batch_inputs))
    command = [
        "xvfb-run", "-a", "-s", "-screen 0 1280x860x24",
        QGIS, "--nologo", "--noversioncheck", "--profiles-path", str(profiles), "--profile", "default",
        "--code", str(PROBE), *(["--lang", language[:2]] if language else []),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: a timeout ends Xvfb and QGIS too
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        partial = report_path.read_text() if report_path.exists() else "(no report)"
        raise RuntimeError(f"QGIS desktop did not finish within {timeout:.0f} s; report so far:\n{partial}\n"
                           f"stderr:\n{stderr[-3000:]}") from None
    if not report_path.exists():
        raise RuntimeError(f"QGIS desktop exited ({proc.returncode}) without a probe report.\n"
                           f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}")
    report = json.loads(report_path.read_text())
    report["qgis_returncode"] = proc.returncode
    report["installed_from"] = str(installed) if installed else None
    if proc.returncode != 0:
        report["errors"].append(f"QGIS exited with status {proc.returncode} (crash?); stderr:\n{stderr[:3000]}\n…\n"
                                f"{stderr[-1500:]}")
    return report


def problems(report: dict) -> list[str]:
    """What went wrong in a probe report (empty when every scenario did what it should)."""
    found = list(report.get("errors", []))
    if not report.get("provider"):
        found.append("the building_extractor provider is not in the registry")
    if "toolbox" in report["scenarios"] and not report.get("screenshot_saved"):
        found.append("toolbox: no screenshot")
    for name in ("dialog", "batch"):
        if name not in report["scenarios"]:
            continue
        part = report.get(name, {})
        outputs = [part] if name == "dialog" else part.get("rows", [])
        if not outputs or not all(o.get("feature_count") for o in outputs):
            found.append(f"{name}: an output is missing or empty")
        if not part.get("screenshot_saved"):
            found.append(f"{name}: no screenshot")
        if "not correctly generated" in part.get("log", "") or "failed" in part.get("log", ""):
            found.append(f"{name}: the log reports a failure")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="toolbox,dialog,batch",
                        help="comma separated: toolbox, dialog, dialog_maskrcnn, choices, batch "
                             "(default: toolbox,dialog,batch)")
    parser.add_argument("--lang", default="", help="locale of QGIS's interface, e.g. fr_FR (default: the system's)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "build" / "screenshots")
    parser.add_argument("--timeout", type=float, default=420.0)
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    if "batch" in scenarios and not (SHARED_DATA / "kampala").exists():
        print(f"screenshot: no batch dialog ({SHARED_DATA / 'kampala'} is missing)", file=sys.stderr)
        scenarios.remove("batch")
    with tempfile.TemporaryDirectory(prefix="building_extractor_") as tmp:
        batch_inputs = make_batch_inputs(Path(tmp) / "inputs") if "batch" in scenarios else []
        report = run_desktop(scenarios, args.screenshots, Path(tmp) / "work", batch_inputs, args.timeout,
                             language=args.lang)
    found = problems(report)
    for part in ("dialog", "batch"):
        report.get(part, {}).pop("log", None)  # long; the screenshots show it
    print(json.dumps(report, indent=2))
    if found:
        raise SystemExit("screenshot: " + "\n".join(found))
    print(f"screenshots: {', '.join(str(args.screenshots / f'{s}.png') for s in scenarios)}")


if __name__ == "__main__":
    main()
