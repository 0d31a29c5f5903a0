"""The review page in a real browser: the explanation's highlights (built from text nodes: hostile product text
stays inert) and the neighbour evidence of the product under review; the toggle hides the highlights."""

from __future__ import annotations

from conftest_store import ServerThread
from test_review_browser import KEY, XSS_NAME, server, signed_in_review_page  # noqa: F401


def test_review_page_shows_explanation_highlights(server: tuple[ServerThread, str]) -> None:  # noqa: F811
    srv, _db = server
    with signed_in_review_page(srv.url, KEY) as (page, errors):
        page.locator("#queue-list li", has_text="Evil kettle").click()
        page.wait_for_function("document.getElementById('item-id').textContent === 'evil'")
        page.wait_for_selector("#explain-view mark")
        view = page.locator("#explain-view")
        assert page.locator("#explain-view mark.ex-pos").count() >= 1
        assert page.locator("#explain-view script, #explain-view img, #explain-view b, mark *").count() == 0
        first = page.locator("#explain-view p.explain-field").first.text_content()
        assert first == XSS_NAME  # the highlighted text is the product's text, character for character
        assert page.text_content("#explain-method") == "linear"
        assert page.locator("#neighbours li").count() >= 1
        page.uncheck("#show-explain")
        assert not view.is_visible()
        page.check("#show-explain")
        assert view.is_visible()
        # another product: the highlights follow the product under review
        page.locator("#queue-list li").first.click()
        page.wait_for_function("document.getElementById('item-id').textContent !== 'evil'")
        page.wait_for_function(
            "document.querySelector('#explain-view p') && "
            "document.querySelector('#explain-view p').textContent === document.getElementById('item-name')"
            ".textContent"
        )
        assert page.evaluate("window.__xss === undefined")
    assert errors == []
