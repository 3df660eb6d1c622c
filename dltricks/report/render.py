"""The table in each output format: rich (terminal), markdown, csv, json, html (one
self-contained page with the plots inlined)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from dltricks.report import page

FORMATS = ("table", "markdown", "csv", "html", "json")
SUFFIX = {"table": "txt", "markdown": "md", "csv": "csv", "html": "html", "json": "json"}


def markdown(df: pd.DataFrame) -> str:
    cells = [[str(c) for c in df.columns]] + [[str(v) for v in row] for row in df.to_numpy()]
    lines = ["| " + " | ".join(md_text(c).replace("|", "\\|") for c in row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in df.columns) + "|")
    return "\n".join(lines) + "\n"


def md_text(text: str) -> str:
    """Text for markdown: HTML in a run's name or error is shown, never rendered."""
    return html.escape(text, quote=False)


def rich_table(df: pd.DataFrame, title: str) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.to_numpy():
        table.add_row(*(Text(str(v)) for v in row))  # Text: "[l2,dropout]" is not markup
    widths = [max([len(str(c)), *(len(str(v)) for v in df[c])]) for c in df.columns]
    console = Console(width=max(60, sum(widths) + 3 * len(widths) + 1), record=True)
    with console.capture() as capture:
        console.print(table)
    return capture.get()


def render(
    df: pd.DataFrame,
    fmt: str,
    title: str,
    notes: list[str],
    images: list[Path] = (),
    sections: dict[str, pd.DataFrame] | None = None,
) -> str:
    """The table, the notes, then each further table of `sections` under its heading
    (csv and json hold one table: their sections are written as files of their own)."""
    sections = {k: numbers_shown(v) for k, v in (sections or {}).items()}
    if fmt == "markdown":  # the figures beside it, linked by their file name
        return (
            f"# {md_text(title)}\n\n{markdown(df)}\n"
            + "".join(f"- {md_text(n)}\n" for n in notes)
            + "".join(f"\n## {k}\n\n{markdown(v)}" for k, v in sections.items())
            + "".join(f"\n![{p.stem}]({p.name})\n" for p in images)
        )
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return df.to_json(orient="records", indent=2) + "\n"
    if fmt == "html":
        return page.page(df, title, notes, list(images), sections)
    return (
        rich_table(df, title)
        + "".join(f"{n}\n" for n in notes)
        + "".join(rich_table(v, k) for k, v in sections.items())
    )


def numbers_shown(df: pd.DataFrame) -> pd.DataFrame:
    """Floats to 3 significant digits: per-layer statistics span many orders of magnitude."""

    def text(v: float) -> str:
        return "-" if pd.isna(v) else f"{v:.3g}"

    return df.assign(**{c: df[c].map(text) for c in df.select_dtypes("float")})
