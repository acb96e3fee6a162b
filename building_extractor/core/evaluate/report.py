"""Self-contained HTML reports: a titled page of sections with key/value tables, tables and figures.

Figures are matplotlib ``Figure`` objects (or PNG bytes) embedded as base64 PNG, so the page is one file that
opens anywhere. Build figures with ``matplotlib.figure.Figure`` (not pyplot): no GUI backend is needed, which
matters inside QGIS.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; margin: 0.5em 0; } p.meta { color: #666; font-size: 0.9em; }
"""


@dataclass
class Table:
    """A table with a header row; cells may be any value (numbers are formatted)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class Section:
    """One part of a report: a heading, optional text, key/value rows, tables and figures, in that order."""

    heading: str
    values: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    tables: Sequence[Table] = ()
    figures: Sequence[Any] = ()  # matplotlib Figures or PNG bytes


def format_value(value: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` significant decimals, everything else as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ") if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v, digits) for v in value)
    return str(value)


def figure_to_base64(figure: Any) -> str:
    """A matplotlib figure (or PNG bytes) as a base64 PNG string."""
    if isinstance(figure, (bytes, bytearray)):
        data = bytes(figure)
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        data = buffer.getvalue()
    return base64.b64encode(data).decode("ascii")


def _cell(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{html.escape(format_value(value))}</td>' if numeric else \
        f"<td>{html.escape(format_value(value))}</td>"


def _section_html(section: Section) -> str:
    parts = [f"<h2>{html.escape(section.heading)}</h2>"]
    if section.text:
        parts += [f"<p>{html.escape(p)}</p>" for p in section.text.split("\n\n") if p.strip()]
    if section.values:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in section.values.items())
        parts.append(f"<table>{rows}</table>")
    for table in section.tables:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    for figure in section.figures:
        parts.append(f'<img alt="{html.escape(section.heading)}" src="data:image/png;base64,'
                     f'{figure_to_base64(figure)}">')
    return "\n".join(parts)


def render_html(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """A complete HTML page with ``title`` and ``sections``."""
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    meta = html.escape(f"{subtitle} · {stamp}" if subtitle else stamp)
    body = "\n".join(_section_html(s) for s in sections)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1><p class=\"meta\">{meta}</p>\n"
            f"{body}\n</body></html>\n")


def write_html(path: str, title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """Write the page to ``path`` (folders are created) and return the path."""
    from ..files import write_text_atomic

    return write_text_atomic(path, render_html(title, sections, subtitle))
