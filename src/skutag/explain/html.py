"""A self-contained HTML page of explanations: each product's fields with its words highlighted (green: for the
path, red: against, stronger = heavier), the path, its probability and the voting neighbours; for a model with
attribute or tag parts, each tag with its value's span outlined and the context words that decided it highlighted
the same way. Every piece of data is escaped; no scripts, no external resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.5 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
.product{border-bottom:1px solid #ddd;padding:.8em 0}
.path{font-weight:600}.muted{color:#777;font-size:12px}
.field{margin:.2em 0}.field b{display:inline-block;min-width:9em;color:#555;font-weight:500}
mark{padding:0 1px;border-radius:2px;color:inherit}
mark.value{background:none;outline:2px solid #2a62c9}
.tags{margin:.4em 0 0 1em}.tag{margin:.2em 0}.tag b{font-weight:600}
"""


def _marked(text: str, spans: Sequence[Mapping[str, Any]], scale: float) -> str:
    out, pos = [], 0
    for s in sorted(spans, key=lambda s: int(s["start"])):
        a, b, w = int(s["start"]), int(s["end"]), float(s["weight"])
        if a < pos or b > len(text):
            continue
        if s.get("value"):  # a tag's value: outlined, whatever its weight
            title = escape(f"the value (score {w:.4f})")
            out.append(f"{escape(text[pos:a])}<mark class='value' title=\"{title}\">{escape(text[a:b])}</mark>")
            pos = b
            continue
        if w == 0:
            continue
        alpha = min(1.0, abs(w) / scale) * 0.75
        if alpha < 0.05:
            continue
        colour = f"rgba(40,160,60,{alpha:.2f})" if w > 0 else f"rgba(220,50,50,{alpha:.2f})"
        out.append(escape(text[pos:a]))
        out.append(f'<mark style="background:{colour}" title="{escape(f"{w:+.4f}")}">{escape(text[a:b])}</mark>')
        pos = b
    out.append(escape(text[pos:]))
    return "".join(out)


def _neighbour_name(n: Mapping[str, Any]) -> str:
    """``training row 12: "its title"``, or ``the path's label "Jewellery"`` (escaped)."""
    text = n.get("text")
    quoted = f" &ldquo;{escape(str(text))}&rdquo;" if text else ""
    if n.get("kind") == "label":
        return f"the path's own label{quoted}"
    return f"training row {escape(str(n.get('row')))}{':' if quoted else ''}{quoted}"


def _tags(tags: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    """Each tag: its name and value, then each field holding its span or context, the span outlined and the
    context words coloured by their weight."""
    out = []
    for name, tag in tags.items():
        span, context = tag.get("span"), list(tag.get("context") or [])
        scale = max((abs(float(c["weight"])) for c in context), default=0.0) or 1.0
        head = (
            f"<b>{escape(str(name))}</b>: {escape(str(tag.get('value')))} <span class='muted'>"
            f"{escape(str(tag.get('kind')))}, score {float(tag.get('score') or 0):.3f}</span>"
        )
        lines = [f"<div class='tag'>{head}"]
        marks = [*context, *([{**span, "value": True}] if span else [])]
        for field in dict.fromkeys(str(m["field"]) for m in marks):
            mine = [m for m in marks if m["field"] == field]
            lines.append(
                f"<div class='field'><b>{escape(field)}</b>{_marked(str(fields.get(field, '')), mine, scale)}</div>"
            )
        if not marks:
            lines.append("<div class='muted'>no single word decided it</div>")
        out.append("".join(lines) + "</div>")
    return (
        f"<div class='muted'>tags (outlined: the value; green/red: the words that decided it):</div>"
        f"<div class='tags'>{''.join(out)}</div>"
    )


def explanations_page(
    items: Sequence[Mapping[str, Any]],
    texts: Sequence[Mapping[str, str]],
    title: str = "skutag explanations",
    tag_texts: Sequence[Mapping[str, str]] | None = None,
) -> str:
    """The page: ``items`` are :meth:`Explanation.to_dict` dicts, ``texts[i]`` the fields of product i;
    ``tag_texts[i]`` the fields its ``tags`` (if any) point into."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"]
    parts.append(f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>")
    parts.append(
        "<p class='muted'>Green words speak for the path, red ones against it; the stronger the colour, the "
        "heavier the word (hover for its weight).</p>"
    )
    for n, (item, fields) in enumerate(zip(items, texts, strict=True)):
        spans = item.get("spans") or []
        scale = max((abs(float(s["weight"])) for s in spans), default=0.0) or 1.0
        path = " > ".join(str(p) for p in item.get("path") or [])
        ident = escape(str(item.get("id") or ""))
        parts.append(f"<div class='product'><div class='muted'>{ident}</div>")
        parts.append(
            f"<div><span class='path'>{escape(path)}</span> <span class='muted'>p={float(item['probability']):.3f}"
            f" · {escape(str(item.get('method')))}</span></div>"
        )
        for name, text in fields.items():
            mine = [s for s in spans if s.get("field") == name]
            parts.append(f"<div class='field'><b>{escape(str(name))}</b>{_marked(str(text), mine, scale)}</div>")
        near = item.get("neighbours") or []
        if near:
            lis = "".join(
                f"<li>{escape(' > '.join(map(str, n.get('path') or [])))} <span class='muted'>similarity "
                f"{float(n.get('similarity', 0)):.3f}, {_neighbour_name(n)}</span></li>"
                for n in near
            )
            parts.append(f"<div class='muted'>voting neighbours:</div><ol>{lis}</ol>")
        if item.get("tags"):
            parts.append(_tags(item["tags"], tag_texts[n] if tag_texts is not None else fields))
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)
