"""Start real QGIS desktop under Xvfb with the staged plugin, and screenshot the Processing Toolbox.

QGIS runs with a profile of its own (``build/qgis-desktop``, ``[PythonPlugins] building_extractor=true``)
and ``--code`` runs ``desktop_probe.py`` inside it: after QGIS has started, the probe shows the Toolbox,
expands our provider, saves a picture of the main window and a JSON report, and quits QGIS.

Usage: desktop_screenshot.py [--out build/screenshots/toolbox.png] [--timeout 300]
Exit status 0 when QGIS loaded the plugin, the provider with its algorithms was in the registry and the
picture was saved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "desktop_probe.py"
QGIS = "/usr/bin/qgis"


def desktop_env(profiles: Path) -> dict[str, str]:
    """Environment for QGIS desktop: our staged plugin, the venv's packages, no host profile."""
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # a real X display (Xvfb), not offscreen
    env.pop("QGIS_CUSTOM_CONFIG_PATH", None)  # pytest-qgis sets it; --profiles-path says where ours is
    env["QGIS_PLUGINPATH"] = str(ROOT / "build" / "plugins")
    site = sorted((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "build" / "plugins"), *map(str, site)])
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


def run_desktop(out: Path, timeout: float = 300.0) -> dict:
    """Run QGIS desktop with the probe; return the probe's report (raises RuntimeError on failure)."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stage.py"), "--quiet"], check=True)
    if shutil.which("xvfb-run") is None:
        raise RuntimeError("xvfb-run not found (Debian package xvfb; make setup installs it)")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    profiles = ROOT / "build" / "qgis-desktop"
    shutil.rmtree(profiles, ignore_errors=True)
    write_profile(profiles)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        env = desktop_env(profiles)
        env["BE_SCREENSHOT"] = str(out)
        env["BE_REPORT"] = str(report_path)
        command = [
            "xvfb-run", "-a", "-s", "-screen 0 1280x860x24",
            QGIS, "--nologo", "--noversioncheck", "--profiles-path", str(profiles), "--profile", "default",
            "--code", str(PROBE),
        ]
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"QGIS desktop did not finish within {timeout:.0f} s") from exc
        if not report_path.exists():
            raise RuntimeError(
                f"QGIS desktop exited ({proc.returncode}) without a probe report.\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
            )
        report = json.loads(report_path.read_text())
    report["qgis_returncode"] = proc.returncode
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots" / "toolbox.png")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    report = run_desktop(args.out, args.timeout)
    print(json.dumps(report, indent=2))
    ok = report.get("provider") and report.get("screenshot_saved") and not report.get("errors")
    if not ok:
        raise SystemExit("screenshot: QGIS desktop did not show the building_extractor provider")
    print(f"screenshot: {args.out}")


if __name__ == "__main__":
    main()
