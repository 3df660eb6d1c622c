"""`report --format html`: one self-contained page (the figures inlined, no request to make)
that reads well at laptop width: the table with sortable columns (click a header), the
diagnosis, every further table and every figure."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5em; max-width: 1200px;
       color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[data-order="asc"]::after { content: " \\25B2"; }
th[data-order="desc"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafafa; }
ul { padding-left: 1.2em; } li { margin: 0.2em 0; }
.figures { display: flex; flex-direction: column; gap: 1.2em; margin-top: 1.5em; }
figure { margin: 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.9em; }
"""

# Click a header: sort by that column (numbers by their value, "0.12 ± 0.01" by 0.12; "-" last)
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var asc = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = asc ? "asc" : "desc";
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var key = function (row) {
        var text = row.cells[column].textContent.trim(), number = parseFloat(text);
        return isNaN(number) ? text : number;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def table(df: pd.DataFrame) -> str:
    inner = df.to_html(index=False, escape=True, border=0, classes="sortable")
    return f'<div class="scroll">{inner}</div>'


def figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(path.stem)
    return (
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{name}</figcaption></figure>"
    )


def page(
    df: pd.DataFrame,
    title: str,
    notes: list[str],
    images: list[Path],
    sections: dict[str, pd.DataFrame],
) -> str:
    """One HTML file with everything inlined: it can be mailed or opened offline."""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    more = "".join(f"<h2>{html.escape(k)}</h2>\n{table(v)}" for k, v in sections.items())
    figures = "\n".join(figure(p) for p in images)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{table(df)}
<h2>Diagnosis and warnings</h2><ul>{items}</ul>
{more}
<div class="figures">{figures}</div>
<script>{SCRIPT}</script>
</body></html>
"""
