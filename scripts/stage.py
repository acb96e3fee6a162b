"""Stage the QGIS plugin folder and build its zip.

Staging makes ``build/plugins/building_extractor/``: the package (without caches), the top-level
``metadata.txt``, ``NOTICE``, the icon, ``resources.py`` compiled from ``resources.qrc`` with pyrcc5, and the
help pages rendered to HTML. It is incremental: only changed files are copied, stale ones are removed, so it
is cheap enough for ``bin/qgis_process`` to run before every call.

Usage: stage.py [--quiet] [--doc-only] [--zip] [--dist DIR]
"""

from __future__ import annotations

import argparse
import configparser
import filecmp
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "building_extractor"
STAGE = ROOT / "build" / "plugins" / "building_extractor"
HELP = ROOT / "help"
HELP_HTML = HELP / "html"
QRC = ROOT / "resources.qrc"
RESOURCES_PY = PACKAGE / "resources.py"
TOP_LEVEL_FILES = ("metadata.txt", "NOTICE", "LICENSE")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".part")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import md2html


def _newer(target: Path, sources: list[Path]) -> bool:
    """True when target is missing or older than any source."""
    if not target.exists():
        return True
    mtime = target.stat().st_mtime
    return any(source.stat().st_mtime > mtime for source in sources)


def compile_resources() -> bool:
    """Compile resources.qrc into building_extractor/resources.py when it is out of date."""
    referenced = [ROOT / name for name in re.findall(r"<file[^>]*>([^<]+)</file>", QRC.read_text())]
    if not _newer(RESOURCES_PY, [QRC, *referenced]):
        return False
    pyrcc5 = shutil.which("pyrcc5")
    if pyrcc5 is None:
        raise SystemExit("stage: pyrcc5 not found; install Debian's pyqt5-dev-tools (make setup does).")
    code = subprocess.run([pyrcc5, str(QRC)], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    # Plugins import Qt through qgis.PyQt so they keep working when QGIS moves to another Qt binding.
    code = code.replace("from PyQt5 import QtCore", "from qgis.PyQt import QtCore")
    RESOURCES_PY.write_text(code)
    return True


# Project pages the help links to, rendered beside the help pages so that their links resolve in the plugin.
SHIPPED_PAGES = ("MODELS.md", "BENCHMARKS.md")


def _help_sources() -> list[Path]:
    return sorted(HELP.glob("*.md")) + [ROOT / name for name in SHIPPED_PAGES if (ROOT / name).is_file()]


def _shipped_markdown(source: Path) -> str:
    """A page's markdown with links written for its place in help/html/ (project pages sit beside help ones)."""
    text = source.read_text(encoding="utf-8")
    if source.parent == ROOT:
        text = re.sub(r"\]\(help/", "](", text)
    return re.sub(r"\]\(\.\./(" + "|".join(map(re.escape, SHIPPED_PAGES)) + r")", r"](\1", text)


def compile_translations() -> bool:
    """Compile building_extractor/i18n/*.ts into .qm files beside them (lrelease) when out of date."""
    changed = False
    for source in sorted((PACKAGE / "i18n").glob("*.ts")):
        target = source.with_suffix(".qm")
        if _newer(target, [source]):
            lrelease = shutil.which("lrelease")
            if lrelease is None:
                raise SystemExit("stage: lrelease not found; install Debian's qttools5-dev-tools (make setup does).")
            subprocess.run([lrelease, "-silent", str(source), "-qm", str(target)], check=True, capture_output=True)
            changed = True
    return changed


def build_docs() -> bool:
    """Render help/*.md (and MODELS.md, BENCHMARKS.md) into help/html/, copy help/images/ beside them, when out
    of date."""
    changed = False
    for source in _help_sources():
        target = HELP_HTML / f"{source.stem}.html"
        if _newer(target, [source, Path(md2html.__file__)]):
            HELP_HTML.mkdir(parents=True, exist_ok=True)
            target.write_text(md2html.page(_shipped_markdown(source)), encoding="utf-8")
            changed = True
    stems = {source.stem for source in _help_sources()}
    for stale in HELP_HTML.glob("*.html"):
        if stale.stem not in stems:
            stale.unlink()
            changed = True
    if (HELP / "images").is_dir():
        images = HELP / "images"
        changed |= _sync({path.relative_to(images): path for path in _files(images)}, HELP_HTML / "images")
    return changed


def _files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        found += [Path(dirpath) / name for name in sorted(filenames) if not name.endswith(SKIPPED_SUFFIXES)]
    return found


def plugin_files() -> dict[Path, Path]:
    """Map of path inside the plugin folder -> source file."""
    files = {path.relative_to(PACKAGE): path for path in _files(PACKAGE)}
    for name in TOP_LEVEL_FILES:
        if (ROOT / name).is_file():
            files[Path(name)] = ROOT / name
    if HELP_HTML.is_dir():
        files.update({Path("help", "html") / path.relative_to(HELP_HTML): path for path in _files(HELP_HTML)})
    return files


def _sync(files: dict[Path, Path], destination: Path) -> bool:
    """Copy changed files into destination and remove files that are no longer wanted."""
    changed = False
    for relative, source in files.items():
        target = destination / relative
        if not target.exists() or not filecmp.cmp(source, target, shallow=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            changed = True
    for existing in _files(destination) if destination.exists() else []:
        if existing.relative_to(destination) not in files:
            existing.unlink()
            changed = True
    return changed


def stage() -> bool:
    """Bring build/plugins/building_extractor up to date; True when anything changed."""
    changed = compile_resources()
    changed |= compile_translations()
    changed |= build_docs()
    files = plugin_files()
    if not STAGE.exists():
        changed = True
    changed |= _sync(files, STAGE)
    for folder in sorted((p for p in STAGE.rglob("*") if p.is_dir()), reverse=True):
        if folder.name not in SKIPPED_DIRS and not any(folder.iterdir()):
            folder.rmdir()
    compile_bytecode()
    return changed


def compile_bytecode() -> None:
    """Write the staged modules' bytecode (__pycache__) where it is missing or older than the source.

    QGIS writes it into a user's plugin folder on the first load. Where PYTHONDONTWRITEBYTECODE is set (CI,
    containers, this project's shells) nothing is written, and every bin/qgis_process call compiled the
    plugin's modules again: about 0.2 s of CPU. The zip leaves __pycache__ out (make_zip).
    """
    import compileall

    compileall.compile_dir(str(STAGE), quiet=2)


def version() -> str:
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(ROOT / "metadata.txt", encoding="utf-8")
    return metadata["general"]["version"]


def make_zip(dist: Path) -> Path:
    """Zip the staged plugin as dist/building_extractor-<version>.zip (top folder building_extractor/).

    The shipped models go in as ONNX only: with their safetensors twins the zip would be twice the plugin
    repository's 25 MB limit, and both backends run the ONNX files (torch loads their weights by name).
    """
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / f"building_extractor-{version()}.zip"
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(STAGE):
            relative = path.relative_to(STAGE)
            if relative.parts[0] == "models" and path.suffix == ".safetensors":
                continue
            archive.write(path, str(Path(STAGE.name) / relative))
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print nothing unless something fails")
    parser.add_argument("--doc-only", action="store_true", help="only render help/*.md into help/html/")
    parser.add_argument("--zip", action="store_true", help="also build the plugin zip")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    args = parser.parse_args()
    if args.doc_only:
        build_docs()
        if not args.quiet:
            print(f"doc: {HELP_HTML.relative_to(ROOT)}/ up to date")
        return
    changed = stage()
    if not args.quiet:
        print(f"stage: {STAGE.relative_to(ROOT)} {'updated' if changed else 'up to date'}")
    if args.zip:
        target = make_zip(args.dist)
        print(f"zip: {target}")


if __name__ == "__main__":
    main()
