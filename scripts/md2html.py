"""A small Markdown to HTML converter for the help pages (no third-party dependency).

Handles what help/*.md use: headings, paragraphs, unordered and ordered lists (one level, with
continuation lines), fenced code blocks, pipe tables, and inline code, bold, italic, links and images.
Links to other ``.md`` pages become links to their ``.html`` pages.

Usage: md2html.py SOURCE.md... --out DIR
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

STYLE = """
body { font-family: sans-serif; max-width: 52em; margin: 1em auto; padding: 0 1em; line-height: 1.45; }
code, pre { font-family: monospace; background: #f3f3f3; }
pre { padding: .6em; overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #bbb; padding: .25em .5em; vertical-align: top; text-align: left; }
th { background: #eee; }
img { max-width: 100%; }
"""

INLINE_CODE = re.compile(r"`([^`]+)`")
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
BULLET = re.compile(r"^[-*+]\s+(.*)$")
NUMBERED = re.compile(r"^\d+[.)]\s+(.*)$")
TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _href(target: str) -> str:
    if not re.match(r"^[a-z]+://", target):
        target = re.sub(r"\.md(#|$)", r".html\1", target)
    return html.escape(target, quote=True)


def inline(text: str) -> str:
    """Convert inline Markdown (code spans first, so their content stays literal)."""
    codes: list[str] = []

    def keep_code(match: re.Match) -> str:
        codes.append(f"<code>{html.escape(match.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = INLINE_CODE.sub(keep_code, text)
    text = html.escape(text, quote=False)
    text = IMAGE.sub(lambda m: f'<img alt="{m.group(1)}" src="{_href(m.group(2))}">', text)
    text = LINK.sub(lambda m: f'<a href="{_href(m.group(2))}">{m.group(1)}</a>', text)
    text = BOLD.sub(r"<strong>\1</strong>", text)
    text = ITALIC.sub(r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


def _cells(row: str) -> list[str]:
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") else row
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)]


def _table(lines: list[str]) -> str:
    head = "".join(f"<th>{inline(c)}</th>" for c in _cells(lines[0]))
    rows = "".join(
        "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in _cells(line)) + "</tr>\n" for line in lines[2:]
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def convert(markdown: str) -> tuple[str, str]:
    """Return (title, body HTML) of a Markdown text."""
    lines = markdown.splitlines()
    out: list[str] = []
    title = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
        elif match := HEADING.match(stripped):
            level = len(match.group(1))
            title = title or match.group(2)
            out.append(f"<h{level}>{inline(match.group(2))}</h{level}>")
            i += 1
        elif stripped.startswith("|") and i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1].strip()):
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(_table([raw.strip() for raw in lines[i:j]]))
            i = j
        elif BULLET.match(stripped) or NUMBERED.match(stripped):
            pattern, tag = (BULLET, "ul") if BULLET.match(stripped) else (NUMBERED, "ol")
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                item = pattern.match(lines[i].strip())
                if item and not lines[i].startswith("  "):
                    items.append(item.group(1))
                elif items:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append(f"<{tag}>\n" + "".join(f"<li>{inline(item)}</li>\n" for item in items) + f"</{tag}>")
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not _starts_block(lines[j].strip()):
                j += 1
            j = max(j, i + 1)
            out.append("<p>" + inline(" ".join(raw.strip() for raw in lines[i:j])) + "</p>")
            i = j
    return title, "\n".join(out) + "\n"


def _starts_block(stripped: str) -> bool:
    return bool(HEADING.match(stripped) or BULLET.match(stripped) or NUMBERED.match(stripped)
                or stripped.startswith("```") or stripped.startswith("|"))


def page(markdown: str) -> str:
    """A complete standalone HTML page."""
    title, body = convert(markdown)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title or 'Building extractor')}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for source in args.sources:
        (args.out / f"{source.stem}.html").write_text(page(source.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
