"""Translations: collect the strings the algorithm dialogs show and keep building_extractor/i18n/*.ts up to date.

The strings are read from the algorithms themselves (for every algorithm: display name, group, short help — the
dialog's right-hand panel — every parameter's label, help, file filter and drop-down options, and every
output's name), because many
are passed through ``self.tr`` at run time and pylupdate5 cannot see them. They are written under one context,
``BaseAlgorithm``, which ``BaseAlgorithm.tr`` consults after the algorithm's own class. Existing translations are
kept; new strings come in unfinished. `make stage` compiles the .ts files to .qm with lrelease.

Usage: .venv/bin/python scripts/i18n.py [--check]   (--check: exit 1 when a string lacks a translation)
"""

from __future__ import annotations

import argparse
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "building_extractor" / "i18n"
CONTEXT = "BaseAlgorithm"
LANGUAGES = ("fr",)


def collect() -> list[str]:
    """The English strings to translate, in dialog order, without repeats."""
    from building_extractor.processing.help_texts import HELP_TEXTS
    from building_extractor.processing.provider import ALGORITHMS

    found: list[str] = ["Building extractor"]
    for cls in ALGORITHMS:
        algorithm = cls()
        algorithm.initAlgorithm()
        found += [cls.DISPLAY_NAME, cls.GROUP, HELP_TEXTS[cls.ALGORITHM_ID]]
        for parameter in algorithm.parameterDefinitions():
            found += [parameter.description(), parameter.help()]
            if hasattr(parameter, "fileFilter"):
                found.append(parameter.fileFilter())
            if parameter.type() == "enum" and not parameter.usesStaticStrings():
                found += parameter.options()  # drop-down labels (static strings: technical names, shown as they are)
        found += [output.description() for output in algorithm.outputDefinitions()]
    unique: list[str] = []
    for text in found:
        if text and text not in unique:
            unique.append(text)
    return unique


def read_ts(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    tree = ET.parse(path)
    return {m.findtext("source"): m.findtext("translation") or "" for m in tree.iter("message")
            if m.find("translation") is not None and m.find("translation").get("type") != "unfinished"}


def write_ts(path: Path, language: str, strings: list[str], translations: dict[str, str]) -> None:
    root = ET.Element("TS", version="2.1", language=language)
    context = ET.SubElement(root, "context")
    ET.SubElement(context, "name").text = CONTEXT
    for text in strings:
        message = ET.SubElement(context, "message")
        ET.SubElement(message, "source").text = text
        translation = ET.SubElement(message, "translation")
        if translations.get(text):
            translation.text = translations[text]
        else:
            translation.set("type", "unfinished")
    ET.indent(root)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + ET.tostring(root, encoding="unicode")
                    + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a string has no translation")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    strings = collect()
    missing = {}
    for language in LANGUAGES:
        path = I18N / f"building_extractor_{language}.ts"
        translations = read_ts(path)
        missing[language] = [s for s in strings if not translations.get(s)]
        if not args.check:
            write_ts(path, language, strings, translations)
    for language, texts in missing.items():
        print(f"i18n: {language}: {len(strings) - len(texts)} of {len(strings)} strings translated")
    if args.check and any(missing.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
