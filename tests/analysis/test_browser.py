"""The pages in a real browser: Debian's headless Chromium driven by Playwright.

The browser is started after the data is in the database and closed before it is flushed:
Playwright's sync API keeps an event loop running in this thread, and Django refuses database
access while one runs.
"""

import shutil
from urllib.parse import urlsplit

import pytest

from tests.conftest import CHALLENGE_UNITS

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (see .ci/run)"
)


@pytest.fixture
def browser_page(challenge_data, live_server, staff_client):
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    # The pages need a login: the browser carries the staff client's session.
    session = staff_client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        page = context.new_page()
        page.seen = {"errors": [], "hosts": set()}
        page.on(
            "console",
            lambda message: message.type == "error" and page.seen["errors"].append(message.text),
        )
        page.on("pageerror", lambda error: page.seen["errors"].append(str(error)))
        page.on("request", lambda request: page.seen["hosts"].add(urlsplit(request.url).hostname))
        yield page
        browser.close()


def loaded_images(page) -> list[bool]:
    """For each <img>, whether it loaded and decoded (each chart is a request of its own)."""
    return page.eval_on_selector_all(
        "img", "images => images.map(img => img.complete && img.naturalWidth > 0)"
    )


def image_paths(page) -> list[str]:
    return [
        urlsplit(src).path
        for src in page.eval_on_selector_all("img", "images => images.map(img => img.src)")
    ]


def test_overview_in_a_browser_shows_units_and_comparison(browser_page, live_server):
    browser_page.goto(f"{live_server.url}/analysis/")
    browser_page.wait_for_load_state("load")

    assert browser_page.locator("#units tbody tr").count() == len(CHALLENGE_UNITS)
    assert browser_page.locator("#comparison").is_visible()
    images = loaded_images(browser_page)
    assert len(images) == 3
    assert all(images)
    assert all(path.startswith("/analysis/charts/") for path in image_paths(browser_page))
    assert browser_page.seen["errors"] == []
    assert browser_page.seen["hosts"] - {None} <= LOOPBACK


@pytest.mark.parametrize("unit", CHALLENGE_UNITS, ids=["consumer", "producer"])
def test_report_in_a_browser_renders_every_section_and_chart(browser_page, live_server, unit):
    browser_page.goto(f"{live_server.url}/analysis/")
    browser_page.click(f"a[href^='/analysis/{unit.muid}/']")
    browser_page.wait_for_load_state("load")

    for section in (
        "quality",
        "series",
        "profiles",
        "autocorrelation",
        "decomposition",
        "hypothesis",
    ):
        assert browser_page.locator(f"#{section}").is_visible()
    images = loaded_images(browser_page)
    assert len(images) == 7
    assert all(images)
    assert all(
        path.startswith(f"/analysis/{unit.muid}/charts/") for path in image_paths(browser_page)
    )
    alts = browser_page.eval_on_selector_all("img", "images => images.map(img => img.alt)")
    assert all(alt.strip() for alt in alts)
    assert browser_page.seen["errors"] == []
    assert browser_page.seen["hosts"] - {None} <= LOOPBACK


def test_changing_the_interval_in_the_form_reloads_the_report(browser_page, live_server):
    unit = CHALLENGE_UNITS[1]
    browser_page.goto(f"{live_server.url}/analysis/{unit.muid}/")
    browser_page.select_option("select[name=interval]", "week")
    browser_page.click("#params button[type=submit]")
    browser_page.wait_for_load_state("load")

    assert "interval=week" in browser_page.url
    assert browser_page.locator("#buckets tbody tr").count() == 5
    assert all(loaded_images(browser_page))
    assert browser_page.seen["errors"] == []
