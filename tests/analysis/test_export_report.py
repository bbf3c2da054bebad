"""export_report writes the pages as static HTML with SVG files beside them."""

import re

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import CHALLENGE_UNITS, PRODUCER


def test_export_writes_an_overview_and_a_report_per_unit_with_svg_figures(challenge_data, tmp_path):
    call_command("export_report", "--out", str(tmp_path), verbosity=0)

    index = (tmp_path / "index.html").read_text()
    for unit in CHALLENGE_UNITS:
        page = (tmp_path / f"{unit.muid}.html").read_text()
        assert f'href="{unit.muid}.html"' in index
        images = re.findall(r'<img src="([^"]+)"', page)
        assert len(images) == 10
        for src in images:
            assert src.startswith(f"{unit.muid}/")
            assert (tmp_path / src).read_text().lstrip().startswith("<?xml")
    assert len(list((tmp_path / "overview").glob("*.svg"))) == 3


def test_exported_pages_link_only_to_files_beside_them(challenge_data, tmp_path):
    call_command("export_report", "--out", str(tmp_path), "--muid", str(PRODUCER.muid))

    page = (tmp_path / f"{PRODUCER.muid}.html").read_text()
    links = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert all(not link.startswith(("/", "http")) for link in links)
    assert "<form" not in page


def test_export_refuses_bad_parameters(challenge_data, tmp_path):
    with pytest.raises(CommandError, match="tz"):
        call_command("export_report", "--out", str(tmp_path), "--tz", "Nowhere/Else")


def test_export_refuses_an_unknown_unit(challenge_data, tmp_path):
    with pytest.raises(CommandError, match="unknown unit"):
        call_command(
            "export_report",
            "--out",
            str(tmp_path),
            "--muid",
            "00000000-0000-0000-0000-000000000000",
        )
