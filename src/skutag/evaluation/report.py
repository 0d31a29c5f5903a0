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
td.ev{text-align:left;font-size:90%}span.role{background:#fde2c8;padding:0 2px}
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
    global_views: dict[str, Any] | None = None,
) -> str:
    """The whole report as one HTML string (no external files): categories (``result``), attribute values
    (``attributes``: :func:`attribute_section`'s input) and what each class learnt (``global_views``:
    :func:`global_section`'s input), any may be absent."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>")
    if context:
        parts.append(_table([{"key": k, "value": v} for k, v in context.items()], ["key", "value"]))
    if attributes:
        parts.append(attribute_section(attributes))
    if result is not None:
        parts.extend(_category_sections(result))
    if global_views:
        parts.append(global_section(global_views))
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


def _evidence(items: list[dict[str, Any]], char_mark: bool = False) -> str:
    """Evidence items as ``text weight`` (brand/shop words highlighted with their role; n-grams with their field,
    char n-grams in ‹› with their spaces shown as ␣)."""
    out = []
    for it in items:
        text = str(it.get("text", ""))
        if char_mark and it.get("kind") == "char":
            text = "\u2039" + text.replace(" ", "\u2423") + "\u203a"
        label = html.escape(text)
        if char_mark and it.get("field"):
            label += f"<sub>{html.escape(str(it['field']))}</sub>"
        if it.get("role"):
            label = f'<span class="role">{label} [{html.escape(str(it["role"]))}]</span>'
        out.append(f"{label} <small>{float(it.get('weight', 0.0)):+.3g}</small>")
    return ", ".join(out)


def global_section(views: dict[str, Any]) -> str:
    """What each class learnt (its strongest evidence over the rows predicted as it) and the classes whose
    evidence is mostly brand-like or shop-specific words, from
    :func:`skutag.explain.global_view.global_explanations`' dict."""
    classes = views.get("classes", [])
    predicted = int(views.get("classes_predicted", len(classes)))
    linear = views.get("method") == "linear"
    if linear:
        how = (
            "linear model, exact: each n-gram occurrence adds its TF-IDF value x its coefficient to the class's "
            "centred path score; an n-gram's or word's weight is its mean contribution per row predicted as the "
            "class (words get the n-grams over them, split by characters); <i>against</i>: the most negative "
            "coefficients x the n-gram's mean value where it occurs in the data"
        )
    else:
        method = html.escape(str(views.get("method")))
        how = f"each word's mean weight per row predicted as the class, by the model's {method} explanations"
    out = ["<h2>What each class learnt</h2>"]
    out.append(
        f"<p>{how}. {views.get('rows_explained', 0):,} of {views.get('rows', 0):,} rows explained "
        f"(cap {views.get('max_rows', 0):,}, dealt round-robin over the predicted classes; 0 = no cap) in "
        f"{float(views.get('seconds', 0.0)):.1f} s. Highlighted: brand-like or shop-specific words.</p>"
    )
    head = ["class", "rows", "explained", "strongest words"] + (["strongest n-grams", "against"] if linear else [])
    body = []
    for c in classes:
        cells = [
            f'<td class="l">{html.escape(str(c.get("class", "")))}</td>',
            f"<td>{int(c.get('rows', 0)):,}</td>",
            f"<td>{int(c.get('rows_explained', 0)):,}</td>",
            f'<td class="ev">{_evidence(c.get("words", []))}</td>',
        ]
        if linear:
            cells.append(f'<td class="ev">{_evidence(c.get("ngrams", []), char_mark=True)}</td>')
            cells.append(f'<td class="ev">{_evidence(c.get("negative", []), char_mark=True)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f'<th class="l">{html.escape(h)}</th>' for h in head)
    out.append(
        f"<details><summary>strongest evidence of {len(classes):,} classes (of {predicted:,} predicted: the others "
        "got no explained row), most predicted first</summary>"
        f"<table><tr>{header}</tr>{''.join(body)}</table></details>"
    )
    out.append("<h2>Classes leaning on brands or shop tokens</h2>")
    roles = views.get("roles", {})
    share, top, least = float(views.get("flag_share", 0.5)), views.get("top", 10), views.get("min_rows", 3)
    shop_col = html.escape(str(roles.get("shop_column")))
    out.append(
        f"<p>A class is flagged when brand-like or shop-specific words carry at least {share:.0%} of the weight of "
        f"its top {top} words (and at least {least} of its rows were explained). Shop-specific ({shop_col} column; "
        f"{roles.get('shop_words', 0):,} words): {html.escape(str(roles.get('shop_rule', '')))}. Brand-like "
        f"({roles.get('brand_words', 0):,} words): {html.escape(str(roles.get('brand_rule', '')))}. A heuristic: "
        "read the words before acting on a flag.</p>"
    )
    flagged = views.get("flagged", [])
    if not flagged:
        out.append(f"<p>None of the {len(classes):,} classes is flagged.</p>")
    else:
        rows = [
            {"class": f["class"], "rows": f["rows"], "shops": f.get("shops", "n/a"), "share": f["share"],
             "brand share": f["brand_share"], "shop share": f["shop_share"], "words": ", ".join(f["role_words"])}
            for f in flagged
        ]  # fmt: skip
        out.append(f"<p>{len(flagged):,} of {len(classes):,} classes flagged (shops: how many its rows come from).</p>")
        out.append(_table(rows, ["class", "rows", "shops", "share", "brand share", "shop share", "words"]))
    return "\n".join(out)
