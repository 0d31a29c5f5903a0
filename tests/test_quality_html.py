"""The HTML page renders any check's detail listings, escaped and capped."""

from __future__ import annotations

from skutag.quality.html import MAX_DETAIL_ROWS, render_html


def test_detail_listings_escaped_and_capped() -> None:
    rows = [{"row": i, "level_1": {"given": "<b>x</b>", "suggested": "y"}} for i in range(MAX_DETAIL_ROWS + 5)]
    data = {
        "inputs": ["a<b>.csv"],
        "dataset": {
            "rows": 30,
            "columns": ["t"],
            "text_columns": ["t"],
            "label_columns": [],
            "rejected_rows": 2,
            "rejects_by_reason": {"invalid JSON": 2},
        },
        "checks": {
            "custom": {
                "name": "custom",
                "description": "d & <i>",
                "flagged_rows": 25,
                "summary": {"n": 25},
                "details": {"suggestions": rows},
                "example_records": [{"row": 1, "title": "<img src=x onerror=alert(1)>", "score": 1.0}],
            }
        },
        "skipped": {"other": "no labels"},
        "profile": {},
    }
    page = render_html(data)
    assert "<b>" not in page and "<img src=x" not in page and "<i>" not in page
    assert "given: &lt;b&gt;x&lt;/b&gt;, suggested: y" in page
    assert page.count("suggested: y") == MAX_DETAIL_ROWS
    assert "5 more in quality.json" in page
    assert "invalid JSON" in page and "skipped: no labels" in page
