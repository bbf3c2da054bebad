"""Every kind of HTML page under its Content-Security-Policy, in Debian's headless Chromium:
each renders, and the browser reports no violation (a refused script or style is a console
error) and no request beyond loopback."""

from urllib.parse import urlsplit

import pytest

from tests.analysis.test_browser import LOOPBACK, browser_page  # noqa: F401 - a fixture


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def assert_clean(page, *, blocked: tuple[str, ...] = ()) -> None:
    """No console error but the refusals of `blocked` URLs; no request beyond loopback."""
    errors = [
        error
        for error in page.seen["errors"]
        if not any(f"'{url}' violates" in error for url in blocked)
    ]
    assert errors == [], "\n".join(errors)
    assert page.seen["hosts"] - {None} - {urlsplit(url).hostname for url in blocked} <= LOOPBACK


def test_swagger_ui_renders_every_operation_under_the_policy(browser_page, live_server):  # noqa: F811
    visit(browser_page, f"{live_server.url}/api/docs/")
    browser_page.wait_for_selector(".opblock-summary", timeout=15_000)

    assert browser_page.locator(".opblock-summary").count() >= 4
    assert "Exnaton meter data API" in browser_page.locator(".info .title").inner_text()
    assert_clean(browser_page)


def test_redoc_renders_every_operation_under_the_policy(browser_page, live_server):  # noqa: F811
    visit(browser_page, f"{live_server.url}/api/redoc/")
    browser_page.wait_for_selector("h1", timeout=15_000)

    assert "Exnaton meter data API" in browser_page.locator("h1").first.inner_text()
    assert browser_page.get_by_text("List readings").count() >= 1
    # The one refusal is what the policy is for: Redoc's own logo, from its CDN.
    assert_clean(browser_page, blocked=("https://cdn.redoc.ly/redoc/logo-mini.svg",))


@pytest.mark.parametrize(
    ("path", "landmark"),
    [
        ("/", "table"),
        ("/admin/", "#content"),
        ("/accounts/login/", "form"),
        ("/api/v1/units/", "pre"),
    ],
    ids=["home", "admin", "login", "browsable api"],
)
def test_a_page_renders_with_its_styles_under_the_policy(
    browser_page,  # noqa: F811
    live_server,
    path,
    landmark,
):
    visit(browser_page, f"{live_server.url}{path}")

    assert browser_page.locator(landmark).first.is_visible()
    assert_clean(browser_page)


def test_the_pages_own_styles_apply(browser_page, live_server):  # noqa: F811
    visit(browser_page, f"{live_server.url}/")

    font = browser_page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "system-ui" in font
