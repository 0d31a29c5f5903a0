"""A self-contained HTML evaluation report: tables plus matplotlib PNGs embedded as base64."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from skutag.evaluation.metrics import EvaluationResult

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%}h2{margin-top:1.6em}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f'<th class="{"l" if i == 0 else ""}">{html.escape(c)}</th>' for i, c in enumerate(columns))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i == 0 else ""}">{_fmt(r.get(c))}</td>' for i, c in enumerate(columns))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _reliability_plot(result: EvaluationResult) -> str:
    if not result.reliability:
        return ""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for name, rel in result.reliability.items():
        pts = [(c, a) for c, a, n in zip(rel["confidence"], rel["accuracy"], rel["count"], strict=True) if n > 0]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability")
    ax.legend()
    return _png(fig)


def _coverage_plot(result: EvaluationResult) -> str:
    curve = result.coverage_curve
    if not curve or not curve.get("coverage"):
        return ""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(curve["coverage"], curve["precision"], lw=1.5)
    for t in result.path.get("thresholds", []):
        if t.get("threshold") is not None:
            ax.axhline(t["target"], color="grey", lw=0.7, ls=":")
            ax.plot([t["coverage"]], [t["precision"]], "o", label=f"p>={t['target']:.2f}: t={t['threshold']:.3f}")
    ax.set_xlabel("coverage (share of rows kept)")
    ax.set_ylabel("precision of kept rows (full path)")
    ax.set_title("Precision-coverage")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    return _png(fig)


def _level_plot(result: EvaluationResult) -> str:
    names = list(result.levels)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.27
    for i, key in enumerate(("accuracy", "f1_weighted", "f1_macro")):
        ax.bar(
            [j + (i - 1) * width for j in range(len(names))], [result.levels[n][key] for n in names], width, label=key
        )
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("Per level")
    return _png(fig)


def _class_count(table: pd.DataFrame) -> str:
    """The per-class table's header count: the classes of the data (the per-level table's ``n_classes``), then
    the ones only predicted (support 0, listed too, so that their false positives show)."""
    in_data = int((table["support"] > 0).sum())
    only_predicted = len(table) - in_data
    extra = f", {only_predicted} more only predicted" if only_predicted else ""
    return f"{in_data} {'class' if in_data == 1 else 'classes'} in the data{extra}"


def render_report(
    result: EvaluationResult | None,
    title: str = "skutag evaluation",
    context: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
) -> str:
    """The whole report as one HTML string (no external files): categories (``result``) and attribute values
    (``attributes``: :func:`attribute_section`'s input), either may be absent."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>")
    if context:
        parts.append(_table([{"key": k, "value": v} for k, v in context.items()], ["key", "value"]))
    if attributes:
        parts.append(attribute_section(attributes))
    if result is not None:
        parts.extend(_category_sections(result))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def attribute_section(scores: dict[str, Any]) -> str:
    """Attribute values: micro precision/recall/F1 with exact and normalised matching, then per attribute."""
    out: list[str] = []
    if "exact" in scores:
        out.extend(_attribute_tables(scores))
    if scores.get("tags"):
        out.append("<h2>Free tags</h2>")
        out.append(_table(scores["tags"], ["tag", "precision", "recall", "f1", "support", "threshold"]))
    return "\n".join(out)


def _attribute_tables(scores: dict[str, Any]) -> list[str]:
    out = [f"<h2>Attribute values</h2><p>{scores.get('rows', 0):,} products.</p>"]
    rows = [{"match": m, **{k: scores[m][k] for k in ("precision", "recall", "f1")}} for m in ("exact", "normalised")]
    out.append(_table(rows, ["match", "precision", "recall", "f1"]))
    if scores.get("entities"):
        e = scores["entities"]
        out.append("<h3>Entities (exact span and type)</h3>")
        out.append(_table([{"type": "all", **e}, *e["per_type"]], ["type", "precision", "recall", "f1", "support"]))
    by_attr: dict[str, dict[str, Any]] = {}
    for match in ("exact", "normalised"):
        for r in scores[match]["per_attribute"]:
            row = by_attr.setdefault(r["attribute"], {"attribute": r["attribute"], "support": r["support"]})
            for k in ("precision", "recall", "f1"):
                row[f"{k} ({match})"] = r[k]
    cols = ["attribute", "support"] + [
        f"{k} ({m})" for m in ("exact", "normalised") for k in ("precision", "recall", "f1")
    ]
    out.append("<h3>Per attribute</h3>" + _table(list(by_attr.values()), cols))
    return out


def _category_sections(result: EvaluationResult) -> list[str]:
    parts = [f"<p>{result.n_rows:,} rows.</p><h2>Per level</h2>"]
    cols = ["level", "accuracy", "f1_weighted", "f1_macro", "top3_accuracy", "top5_accuracy", "ece", "n_classes"]
    rows = [{"level": n, **m} for n, m in result.levels.items()] + [{"level": "mean", **result.mean}]
    parts.append(_table(rows, cols))
    parts.append(_level_plot(result))
    parts.append("<h2>Hierarchical and full path</h2>")
    parts.append(
        _table(
            [{"metric": f"hierarchical {k}", "value": v} for k, v in result.hierarchical.items()]
            + [{"metric": f"path {k}", "value": v} for k, v in result.path.items() if k != "thresholds"],
            ["metric", "value"],
        )
    )
    if result.path.get("thresholds"):
        parts.append("<h2>Confidence thresholds for target precision</h2>")
        parts.append(_table(result.path["thresholds"], ["target", "threshold", "coverage", "precision"]))
    parts.append(_coverage_plot(result))
    parts.append("<h2>Calibration</h2>")
    parts.append(_reliability_plot(result))
    for name in result.levels:
        parts.append(f"<h2>{html.escape(name)}: most confused pairs</h2>")
        parts.append(_table(result.confused.get(name, [])[:15], ["true", "predicted", "count"]))
        table = result.per_class.get(name)
        if table is not None and len(table):
            parts.append(f"<details><summary>{html.escape(name)}: per class ({_class_count(table)})</summary>")
            parts.append(
                _table(
                    [{str(k): v for k, v in r.items()} for r in table.to_dict("records")],
                    ["class", "precision", "recall", "f1", "support"],
                )
            )
            parts.append("</details>")
    return parts
