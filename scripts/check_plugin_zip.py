"""Check a plugin zip against the QGIS plugin repository's upload rules that can be checked offline.

The rules follow the repository's validator (plugins.qgis.org, ``plugins/validator.py``): size at most
25,000,000 bytes; one top folder whose name is a Python identifier, holding ``__init__.py``, ``metadata.txt``
and ``LICENSE``; no ``..`` or absolute paths, backslashes, ``.pyc`` files, ``__pycache__``, ``.git`` or
``__MACOSX``; a ``[general]`` section with the required fields; no slash in ``author``; the icon inside the
zip. Links are checked for form only (the validator also fetches them); placeholder values are refused.
``category`` must be one the documentation lists.

Required fields the project cannot honestly fill yet (``email``, ``tracker``, ``repository``: there is no
public address) are left out of metadata.txt and reported as ``to fill before uploading``, not invented.

Usage: check_plugin_zip.py dist/building_extractor-<version>.zip   (exit 1 when a rule is broken)
"""

from __future__ import annotations

import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

MAX_SIZE = 25_000_000  # bytes: the repository's PLUGIN_MAX_UPLOAD_SIZE
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
            "repository")
UNAVAILABLE = ("email", "tracker", "repository")  # no public address yet: filled by whoever publishes
LINKS = ("tracker", "repository", "homepage")
CATEGORIES = ("Raster", "Vector", "Database", "Mesh", "Web")  # PyQGIS cookbook, metadata.txt
FORBIDDEN_DIRS = ("__MACOSX", ".git", "__pycache__")
PLACEHOLDER = re.compile(r"example\.(org|com|net)|^https?://(bugs|repo|homepage)/?$|your[-_ ]?(name|email)|"
                         r"TODO|changeme", re.IGNORECASE)


def read_metadata(archive: zipfile.ZipFile, package: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(archive.read(f"{package}/metadata.txt").decode("utf-8"))
    return dict(parser["general"]) if parser.has_section("general") else {}


def _name_problems(names: list[str]) -> list[str]:
    found = []
    for name in names:
        if ".." in name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
            found.append(f"{name}: path information is not allowed")
        if ".pyc" in name:
            found.append(f"{name}: .pyc files are not allowed")
        if any(part in FORBIDDEN_DIRS for part in name.split("/")):
            found.append(f"{name}: {', '.join(FORBIDDEN_DIRS)} folders are not allowed")
    return found


def _metadata_problems(metadata: dict[str, str], names: set[str], package: str) -> list[str]:
    found = [f"metadata.txt: {key} is missing" for key in REQUIRED
             if key not in UNAVAILABLE and not metadata.get(key, "").strip()]
    if "/" in metadata.get("author", ""):
        found.append("metadata.txt: author cannot contain slashes")
    for key, value in metadata.items():
        if PLACEHOLDER.search(value):
            found.append(f"metadata.txt: {key} holds a placeholder ({value!r}); leave it out or give the real one")
    for key in LINKS:
        if metadata.get(key):
            url = urlparse(metadata[key])
            if url.scheme not in ("http", "https") or not url.netloc:
                found.append(f"metadata.txt: {key} is not a web address ({metadata[key]!r})")
    if metadata.get("category") and metadata["category"] not in CATEGORIES:
        found.append(f"metadata.txt: category {metadata['category']!r} is not one of {', '.join(CATEGORIES)}")
    if metadata.get("icon") and f"{package}/{metadata['icon'].removeprefix('./')}" not in names:
        found.append(f"metadata.txt: icon {metadata['icon']} is not in the zip")
    return found


def problems(zip_path: Path) -> list[str]:
    """Broken rules (empty: the repository would accept the zip, once ``to_fill`` is done)."""
    found = []
    if zip_path.stat().st_size > MAX_SIZE:
        found.append(f"{zip_path.name} is {zip_path.stat().st_size / 1e6:.1f} MB; the repository takes at most "
                     f"{MAX_SIZE / 1e6:.0f} MB")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        if archive.testzip() is not None:
            found.append("the zip is corrupt")
        found += _name_problems(names)
        tops = {name.split("/")[0] for name in names}
        if len(tops) != 1:
            return [*found, f"the zip must hold one top folder, not {sorted(tops)}"]
        package = tops.pop()
        if not package.isidentifier():
            found.append(f"top folder {package!r} is not a Python identifier")
        for needed in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{package}/{needed}" not in names:
                found.append(f"{package}/{needed} is missing")
        if f"{package}/metadata.txt" in names:
            found += _metadata_problems(read_metadata(archive, package), set(names), package)
    return found


def to_fill(zip_path: Path) -> list[str]:
    """Required fields left out because the project has no public address for them yet."""
    with zipfile.ZipFile(zip_path) as archive:
        package = archive.namelist()[0].split("/")[0]
        metadata = read_metadata(archive, package)
    return [key for key in UNAVAILABLE if not metadata.get(key, "").strip()]


def main() -> None:
    zip_path = Path(sys.argv[1])
    found = problems(zip_path)
    for problem in found:
        print(f"check_plugin_zip: {problem}", file=sys.stderr)
    missing = to_fill(zip_path)
    if missing:
        print(f"check_plugin_zip: before uploading to plugins.qgis.org, add {', '.join(missing)} to metadata.txt "
              "(the project has no public address for them yet)", file=sys.stderr)
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
