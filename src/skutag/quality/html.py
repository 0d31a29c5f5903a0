"""A self-contained HTML page for a quality report: inline CSS, plots as base64 PNG, all text escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from skutag.quality import plots

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{max-width:600px;overflow-wrap:anywhere}
.flagged{color:#b00;font-weight:600}.muted{color:#777}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:.5rem}
"""


#: Rows of a detail listing shown in the page (the JSON has them all).
MAX_DETAIL_ROWS = 20


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _kv_table(rows: dict[str, Any]) -> str:
    body = "".join(
        f'<tr><th>{_e(k)}</th><td class="{"num" if isinstance(v, int | float) else "text"}">{_e(_fmt(v))}</td></tr>'
        for k, v in rows.items()
    )
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def _overview(data: dict[str, Any]) -> str:
    ds = data["dataset"]
    info = {
        "inputs": ", ".join(data["inputs"]),
        "rows": ds["rows"],
        "rejected rows (not readable)": ds["rejected_rows"],
        "columns": ", ".join(ds["columns"]),
        "text columns": ", ".join(ds["text_columns"]),
        "label columns": ", ".join(ds["label_columns"]) or "none",
        "split column": ds.get("split_column") or "none",
    }
    if ds.get("row_numbering"):
        info["row numbering"] = ds["row_numbering"]
    head = "<tr><th>check</th><th>flagged rows</th><th>share</th><th>what it looks for</th></tr>"
    rows = []
    n = max(ds["rows"], 1)
    for name, res in data["checks"].items():
        flagged = res["flagged_rows"]
        cls = ' class="num flagged"' if flagged else ' class="num"'
        rows.append(
            f'<tr><td><a href="#check-{_e(name)}">{_e(name)}</a></td><td{cls}>{flagged:,}</td>'
            f'<td class="num">{100 * flagged / n:.1f}%</td><td>{_e(res["description"])}</td></tr>'
        )
    for name, reason in data.get("skipped", {}).items():
        rows.append(f'<tr><td>{_e(name)}</td><td class="muted" colspan="3">skipped: {_e(reason)}</td></tr>')
    return "<h2>Dataset</h2>" + _kv_table(info) + "<h2>Checks</h2>" + f"<table>{head}{''.join(rows)}</table>"


def _plots(data: dict[str, Any]) -> str:
    parts = []
    profile = data.get("profile", {})
    levels = data["checks"].get("class_imbalance", {}).get("details", {}).get("levels", {})
    min_count = data["checks"].get("class_imbalance", {}).get("details", {}).get("min_count", 5)
    if levels:
        imgs = [
            _img(plots.long_tail_png(level, list(info["counts"].values()), min_count), f"long tail of {level}")
            for level, info in levels.items()
            if info["counts"]
        ]
        parts.append('<h2>Label long tail</h2><div class="grid">' + "".join(imgs) + "</div>")
    hists = profile.get("length_hist", {})
    if hists:
        imgs = [
            _img(plots.length_hist_png(col, h["counts"], h["edges"]), f"text length of {col}")
            for col, h in hists.items()
            if sum(h["counts"])
        ]
        parts.append('<h2>Text lengths</h2><div class="grid">' + "".join(imgs) + "</div>")
    if profile.get("missing_share"):
        parts.append("<h2>Missing values</h2>" + _img(plots.missingness_png(profile["missing_share"]), "missingness"))
    return "".join(parts)


def _examples_table(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    cols = list(records[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if isinstance(r.get(c), int | float) else "text"}">{_e(_fmt_in(c, r.get(c)))}</td>'
            for c in cols
        )
        + "</tr>"
        for r in records
    )
    return f"<h3>Examples</h3><table><tr>{head}</tr>{body}</table>"


def _details(name: str, details: dict[str, Any]) -> str:
    out = []
    if name == "class_imbalance":
        head = "<tr><th>level</th><th>classes</th><th>imbalance ratio</th><th>rare classes</th></tr>"
        rows = "".join(
            f'<tr><td>{_e(lv)}</td><td class="num">{info["classes"]}</td>'
            f'<td class="num">{_e(_fmt(info["imbalance_ratio"]))}</td>'
            f'<td class="text">{len(info["rare_classes"])}: {_e(", ".join(info["rare_classes"][:30]))}'
            f"{' …' if len(info['rare_classes']) > 30 else ''}</td></tr>"
            for lv, info in details.get("levels", {}).items()
        )
        out.append(f"<table>{head}{rows}</table>")
    per_column = details.get("per_column")
    if isinstance(per_column, dict) and per_column:
        keys = list(next(iter(per_column.values())))
        head = "<tr><th>column</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"
        rows = "".join(
            f"<tr><td>{_e(col)}</td>" + "".join(f'<td class="num">{_e(_fmt(v.get(k)))}</td>' for k in keys) + "</tr>"
            for col, v in per_column.items()
        )
        out.append(f"<h3>Per column</h3><table>{head}{rows}</table>")
    for key, rows in details.items():
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            cols = list(dict.fromkeys(c for r in rows[:MAX_DETAIL_ROWS] for c in r))
            head = "".join(f"<th>{_e(c)}</th>" for c in cols)
            body = "".join(
                "<tr>" + "".join(f'<td class="text">{_e(_fmt_cell(r.get(c)))}</td>' for c in cols) + "</tr>"
                for r in rows[:MAX_DETAIL_ROWS]
            )
            more = (
                f'<p class="muted">{len(rows) - MAX_DETAIL_ROWS:,} more in quality.json</p>'
                if len(rows) > MAX_DETAIL_ROWS
                else ""
            )
            out.append(f"<h3>{_e(key.replace('_', ' '))}</h3><table><tr>{head}</tr>{body}</table>{more}")
    return "".join(out)


def _fmt_cell(v: Any) -> str:
    if isinstance(v, list):
        return " | ".join(str(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return _fmt(v)


def _check_sections(data: dict[str, Any]) -> str:
    parts = ["<h2>Check details</h2>"]
    for name, res in data["checks"].items():
        parts.append(f'<section id="check-{_e(name)}"><h3>{_e(name)}: {res["flagged_rows"]:,} rows flagged</h3>')
        parts.append(f"<p>{_e(res['description'])}</p>")
        if res["summary"]:
            parts.append(_kv_table(res["summary"]))
        parts.append(_details(name, res.get("details", {})))
        parts.append(_examples_table(res.get("example_records", [])))
        parts.append("</section>")
    return "".join(parts)


def _rejects(data: dict[str, Any]) -> str:
    ds = data["dataset"]
    if not ds["rejected_rows"]:
        return ""
    examples = ds.get("reject_examples") or []
    listing = ""
    if examples:
        cols = list(dict.fromkeys(c for r in examples for c in r))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="{"num" if isinstance(r.get(c), int) else "text"}">{_e(_fmt_plain(r.get(c)))}</td>'
                for c in cols
            )
            + "</tr>"
            for r in examples
        )
        more = ds["rejected_rows"] - len(examples)
        tail = f'<p class="muted">{more:,} more in rejects.jsonl</p>' if more > 0 else ""
        listing = f"<h3>First rejects</h3><table><tr>{head}</tr>{body}</table>{tail}"
    return "<h2>Rows rejected while reading</h2>" + _kv_table(ds.get("rejects_by_reason", {})) + listing


def _fmt_in(column: str, v: Any) -> str:
    return _fmt_plain(v) if column in ("row", "line") else _fmt(v)


def _fmt_plain(v: Any) -> str:
    """Row and line numbers as they are in the file (no thousands separator)."""
    return "" if v is None else str(v)


def _taxonomy(data: dict[str, Any]) -> str:
    tax = data.get("taxonomy")
    if not tax:
        return ""
    depth = tax.get("rows_by_depth", {})
    head = "<tr><th>levels per row</th><th>rows</th></tr>"
    rows = "".join(f'<tr><td class="num">{_e(k)}</td><td class="num">{_fmt(v)}</td></tr>' for k, v in depth.items())
    per_level = "<tr><th>level</th><th>labelled rows</th><th>distinct labels</th></tr>" + "".join(
        f'<tr><td>{_e(lv)}</td><td class="num">{_fmt(tax["rows_by_level"].get(lv, 0))}</td>'
        f'<td class="num">{_fmt(n)}</td></tr>'
        for lv, n in tax.get("distinct_by_level", {}).items()
    )
    notes = []
    if tax.get("rows_listing_several_paths"):
        notes.append(f"{tax['rows_listing_several_paths']:,} row(s) list several paths; the first of each is used.")
    if tax.get("warning"):
        notes.append(str(tax["warning"]))
    warn = "".join(f'<p class="flagged">{_e(n)}</p>' for n in notes)
    return (
        f"<h2>Taxonomy depth</h2><p>{_fmt(tax.get('levels', 0))} level(s) at most.</p>{warn}"
        f'<div class="grid"><table>{head}{rows}</table><table>{per_level}</table></div>'
    )


def render_html(data: dict[str, Any]) -> str:
    """The report page for ``data`` (the dict written to ``quality.json``)."""
    title = "skutag quality report: " + ", ".join(data["inputs"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
        f"<h1>{_e(title)}</h1>"
        + _overview(data)
        + _rejects(data)
        + _taxonomy(data)
        + _plots(data)
        + _check_sections(data)
        + f'<p class="muted">skutag {_e(data.get("skutag_version", ""))}</p></body></html>\n'
    )
