"""Write the analysis pages as static HTML with SVG figures, to share without a server.

The files are the same templates the server renders, with each chart drawn and written as an
SVG file beside the page (where the server has a chart URL), and links between the pages made
relative.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from analysis.params import ReportParamsForm
from analysis.reports import (
    Report,
    energy_channels,
    not_analysed,
    overview_report,
    unit_report,
    with_chart_hrefs,
)
from meters.selectors import units_with_channels


def _write_charts(report: Report, *, out: Path, folder: str) -> Report:
    """Draw every chart of the report into `out/folder`; the report with hrefs to the files."""
    (out / folder).mkdir(parents=True, exist_ok=True)
    for name, chart in report.charts.items():
        (out / folder / f"{name}.svg").write_text(chart.svg(), encoding="utf-8")
    return with_chart_hrefs(report, lambda name: f"{folder}/{name}.svg")


class Command(BaseCommand):
    help = "Export the overview and each unit's report as static HTML plus SVG images."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Folder to write (created if needed).")
        parser.add_argument(
            "--muid", action="append", default=[], help="Only this unit (repeatable)."
        )
        parser.add_argument("--start", default="", help="ISO 8601 with offset, or a date.")
        parser.add_argument("--end", default="", help="Exclusive; ISO 8601 or a date.")
        parser.add_argument("--tz", default="", help="IANA zone (default ANALYSIS_TIME_ZONE).")
        parser.add_argument("--interval", default="", help="15min, hour, day or week.")

    def handle(self, *args, **options):
        form = ReportParamsForm({key: options[key] for key in ("start", "end", "tz", "interval")})
        if not form.is_valid():
            raise CommandError(
                "; ".join(f"{field}: {message}" for field, message in form.error_list())
            )
        params = form.params()
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        wanted = {str(muid).lower() for muid in options["muid"]}
        units = [u for u in units_with_channels() if not wanted or str(u.muid) in wanted]
        missing = wanted - {str(u.muid) for u in units}
        if missing:
            raise CommandError(f"unknown unit(s): {', '.join(sorted(missing))}")

        pages = {}
        for unit in units:
            channels = energy_channels(unit)
            for channel in channels:
                slug = str(unit.muid) if len(channels) == 1 else f"{unit.muid}-{channel.obis}"
                pages[(str(unit.muid), channel.obis)] = f"{slug}.html"
                report = unit_report(channel=channel, params=params)
                report = _write_charts(report, out=out, folder=slug)
                links = [(c, pages.get((str(unit.muid), c.obis), "")) for c in channels]
                html = render_to_string(
                    "analysis/report.html",
                    {
                        "unit": unit,
                        "channel": channel,
                        "report": report,
                        "channel_links": links,
                        "not_energy": not_analysed(unit),
                        "exported": True,
                    },
                )
                (out / f"{slug}.html").write_text(html, encoding="utf-8")
                if options["verbosity"] >= 1:
                    self.stdout.write(
                        f"{slug}.html: {report.quality.readings} readings, "
                        f"{len(report.charts)} figures"
                    )

        overview = overview_report(units=units_with_channels(), params=params)
        overview = _write_charts(overview, out=out, folder="overview")
        rows = [
            (row, pages[(row.muid, row.obis)])
            for row in overview.rows
            if (row.muid, row.obis) in pages
        ]
        html = render_to_string(
            "analysis/overview.html", {"report": overview, "rows": rows, "exported": True}
        )
        (out / "index.html").write_text(html, encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(pages) + 1} pages to {out}"))
