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

    # The pages need a login: the browser carries the staff client's session. A superuser's:
    # the admin's lists need permissions that a staff member is given one by one.
    staff_client.user.is_superuser = True
    staff_client.user.save(update_fields=["is_superuser"])
    session = staff_client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        page = context.new_page()
        watch(page)
        yield page
        browser.close()


def watch(page) -> None:
    """Collect the page's console errors, failed requests and the hosts it asked."""
    page.seen = {"errors": [], "failed": [], "hosts": set()}
    page.on(
        "console",
        lambda message: message.type == "error" and page.seen["errors"].append(message.text),
    )
    page.on("pageerror", lambda error: page.seen["errors"].append(str(error)))
    page.on("request", lambda request: page.seen["hosts"].add(urlsplit(request.url).hostname))
    page.on(
        "requestfailed",
        lambda request: page.seen["failed"].append(f"{request.url}: {request.failure}"),
    )
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and page.seen["failed"].append(f"{response.url}: {response.status}")
        ),
    )


def assert_clean(page) -> None:
    """No console error, no failed request, nothing asked of another host, every image shown."""
    assert page.seen["errors"] == []
    assert page.seen["failed"] == []
    assert page.seen["hosts"] - {None} <= LOOPBACK
    assert all(loaded_images(page))


def loaded_images(page, selector: str = "img") -> list[bool]:
    """For each <img>, whether it loaded and decoded (each chart is a request of its own)."""
    return page.eval_on_selector_all(
        selector, "images => images.map(img => img.complete && img.naturalWidth > 0)"
    )


# The charts of a page (the other images are the brand's logo).
CHARTS = "figure img"


def image_paths(page) -> list[str]:
    return [
        urlsplit(src).path
        for src in page.eval_on_selector_all(CHARTS, "images => images.map(img => img.src)")
    ]


def test_overview_in_a_browser_shows_units_and_comparison(browser_page, live_server):
    browser_page.goto(f"{live_server.url}/analysis/")
    browser_page.wait_for_load_state("load")

    assert browser_page.locator("#units tbody tr").count() == len(CHALLENGE_UNITS)
    assert browser_page.locator("#comparison").is_visible()
    images = loaded_images(browser_page, CHARTS)
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
        "passport",
        "quality",
        "series",
        "profiles",
        "autocorrelation",
        "decomposition",
        "hypothesis",
        "load",
        "standard-profiles",
        "forecast",
    ):
        assert browser_page.locator(f"#{section}").is_visible()
    images = loaded_images(browser_page, CHARTS)
    assert len(images) == 10
    assert all(images)
    assert all(
        path.startswith(f"/analysis/{unit.muid}/charts/") for path in image_paths(browser_page)
    )
    alts = browser_page.eval_on_selector_all(CHARTS, "images => images.map(img => img.alt)")
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


# Every kind of page, and what shows that it has finished drawing (the docs pages draw from
# scripts after "load").
PAGES = {
    "home": ("/", "#units"),
    "analysis overview": ("/analysis/", "#comparison"),
    "report": (f"/analysis/{CHALLENGE_UNITS[0].muid}/", "#hypothesis"),
    "api index": ("/api/v1/", "#content"),
    "swagger": ("/api/docs/", ".opblock"),
    "redoc": ("/api/redoc/", "img[alt='redocly logo']"),
    "admin": ("/admin/", "#site-name"),
    "admin units": ("/admin/meters/unit/", "#result_list"),
    "admin readings": ("/admin/meters/reading/", "#result_list"),
}


@pytest.mark.parametrize(("path", "drawn"), PAGES.values(), ids=PAGES.keys())
def test_a_page_loads_without_a_console_error_or_a_failed_request(
    browser_page, live_server, path, drawn
):
    browser_page.goto(f"{live_server.url}{path}")
    browser_page.wait_for_selector(drawn)
    browser_page.wait_for_load_state("networkidle")

    assert_clean(browser_page)


def test_the_login_page_loads_clean_and_is_branded(browser_page, live_server):
    browser_page.context.clear_cookies()
    browser_page.goto(f"{live_server.url}/")
    browser_page.wait_for_load_state("networkidle")

    assert urlsplit(browser_page.url).path == "/accounts/login/"
    assert browser_page.locator(".brand").inner_text() == "Exnaton meter data"
    assert (
        browser_page.locator(".login button").evaluate(
            "button => getComputedStyle(button).backgroundColor"
        )
        == "rgb(31, 111, 178)"
    )
    assert_clean(browser_page)


def test_the_browser_finds_the_sites_icon_where_it_looks_by_default(browser_page, live_server):
    response = browser_page.goto(f"{live_server.url}/favicon.ico")

    assert response.status == 200
    assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")


def test_swagger_try_it_out_on_the_aggregate_answers_json_on_the_first_click(
    browser_page, live_server
):
    browser_page.goto(f"{live_server.url}/api/docs/#/readings/readingsAggregate")
    operation = browser_page.locator("#operations-readings-readingsAggregate")
    operation.locator(".try-out__btn").click()
    with browser_page.expect_response(lambda r: "/api/v1/readings/aggregate/" in r.url) as sent:
        operation.locator(".execute").click()
    answer = sent.value

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    query = urlsplit(answer.url).query
    assert sorted(query.split("&")) == ["agg=sum", "interval=day", "tz=Europe%2FZurich"]
    buckets = answer.json()["buckets"]
    assert {bucket["muid"] for bucket in buckets} == {str(unit.muid) for unit in CHALLENGE_UNITS}
    assert_clean(browser_page)
