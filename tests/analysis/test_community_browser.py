"""The demo community's page in Debian's headless Chromium: reached from the overview, every
section and chart drawn, nothing asked of another host, no console error."""

import pytest
from django.core.management import call_command

from meters.models import Community
from tests.analysis.test_browser import (  # noqa: F401 - a fixture
    CHARTS,
    assert_clean,
    browser_page,
    image_paths,
    loaded_images,
)


@pytest.fixture
def demo(challenge_data) -> Community:
    """Made before the browser starts (Django refuses the database while Playwright runs)."""
    call_command("demo_community", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return Community.objects.get()


def test_the_community_page_from_the_overview_draws_every_section_and_chart(
    demo,
    browser_page,  # noqa: F811
    live_server,
):
    browser_page.goto(f"{live_server.url}/analysis/")
    browser_page.click(f"#communities a[href='/analysis/communities/{demo.pk}/']")
    browser_page.wait_for_load_state("networkidle")

    for section in ("allocation", "answer", "flows", "rates", "bill"):
        assert browser_page.locator(f"#{section}").is_visible()
    assert "95ce3367 (consumer) consumed" in browser_page.locator("#answers").inner_text()
    assert browser_page.locator("#member-months tbody tr.incomplete").count() == 4
    images = loaded_images(browser_page, CHARTS)
    assert len(images) == 3
    assert all(images)
    assert all(
        path.startswith(f"/analysis/communities/{demo.pk}/charts/")
        for path in image_paths(browser_page)
    )
    assert_clean(browser_page)


def test_choosing_days_in_the_form_redraws_the_flows_as_bars(
    demo,
    browser_page,  # noqa: F811
    live_server,
):
    browser_page.goto(f"{live_server.url}/analysis/communities/{demo.pk}/")
    browser_page.select_option("select[name=interval]", "day")
    browser_page.click("#params button[type=submit]")
    browser_page.wait_for_load_state("networkidle")

    assert "interval=day" in browser_page.url
    assert "Energy per day" in browser_page.locator("#chart-flows img").get_attribute("title")
    assert_clean(browser_page)
