"""/docs works offline: Swagger UI comes from the swagger-ui-bundle package, served by skutag under the page CSP.

The in-process checks read the page and fetch every asset it names; the browser check (Chromium, every request
off this server refused) shows that the UI really renders the API under that CSP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi.testclient import TestClient

from conftest_store import ServerThread
from skutag.serving.app import create_app
from skutag.serving.settings import ServeSettings
from test_review_browser import CHROMIUM_ARGS, chromium

_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(ServeSettings()))  # no lifespan: the docs need no model


def test_docs_reference_only_local_assets_served_with_200(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    urls = _ATTR.findall(r.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"} <= set(urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by skutag"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-security-policy"] and asset.headers["x-content-type-options"] == "nosniff"
    for attrs, body in _SCRIPT.findall(r.text):
        assert "src=" in attrs and not body.strip(), "inline script: the CSP would block it"
    assert 'url: "/openapi.json"' in client.get("/static/docs.js").text


def test_docs_assets_are_an_allow_list(client: TestClient) -> None:
    assert client.get("/docs/assets/index.html").status_code == 404  # the package's demo page (public petstore)
    assert client.get("/docs/assets/..%2F__init__.py").status_code == 404
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/redoc").status_code == 404  # ReDoc exists only on a CDN


@asynccontextmanager
async def _no_lifespan(_app: object) -> AsyncIterator[None]:
    yield


def test_swagger_ui_renders_offline_under_the_csp() -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    app = create_app(ServeSettings())
    app.router.lifespan_context = _no_lifespan  # the docs need no model (the real lifespan refuses to start)
    with ServerThread(app) as srv, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            refused: list[str] = []
            problems: list[str] = []

            def only_local(route: object) -> None:
                request = route.request  # type: ignore[attr-defined]
                if request.url.startswith(srv.url):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    refused.append(request.url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_local)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{srv.url}/docs")
            page.wait_for_selector(".opblock-summary-path[data-path='/v1/tag']", timeout=20_000)
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("skutag")
        finally:
            browser.close()
    assert not refused, f"requests off the server: {refused}"
    assert not problems, f"errors on the page (CSP violations show here): {problems}"
