"""Ingest meter readings into the database.

Without arguments it reads the configured units (the two challenge units by default) from the
configured source, continuing from each unit's last stored reading. Each source is loaded in one
transaction: a source that fails leaves the database as it was and the others still load; the
command then exits non-zero.
"""

import signal
import sys
import uuid
from argparse import ArgumentTypeError
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from meters.ingest import IngestReport, ingest_location, ingest_unit
from meters.ingest.fetch import http_session
from meters.moments import format_utc, parse_moment


def _muid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a UUID") from None


def _moment(text: str) -> datetime:
    try:
        return parse_moment(text, ZoneInfo(settings.TIME_ZONE))
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from None


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the ingest so that its open transaction rolls back.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way takes it
    for a failure of the source.
    """


# Exit status of a process ended by SIGTERM (128 + 15), as shells and schedulers expect.
TERMINATED_EXIT = 128 + signal.SIGTERM


class Command(BaseCommand):
    help = __doc__
    # A data job (often scheduled): the system checks would import every URLconf and view,
    # with pandas and statsmodels, only to load readings.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "sources",
            nargs="*",
            metavar="SOURCE",
            help="an http(s) URL or a file path of one document, read as given",
        )
        parser.add_argument(
            "--muid",
            action="append",
            type=_muid,
            default=[],
            help="a unit to read from the configured source (repeatable); "
            "without SOURCE or --muid, the configured default units",
        )
        parser.add_argument(
            "--start",
            type=_moment,
            help="read units from here (ISO 8601 with offset, or a date in TIME_ZONE); "
            "default: each unit's last stored reading",
        )
        parser.add_argument("--stop", type=_moment, help="read units up to here; default: now")
        parser.add_argument(
            "--full",
            action="store_true",
            help="re-read each unit from METERS_HISTORY_START instead of its last stored reading",
        )
        parser.add_argument(
            "--strict", action="store_true", help="fail a source if any record is rejected"
        )
        parser.add_argument(
            "--fallback-dir",
            type=Path,
            help="if a unit's source cannot be reached, read DIR/<muid>.json instead",
        )

    def handle(self, *args, **options):
        if options["full"] and options["start"]:
            raise CommandError("--full and --start exclude each other")
        muids = options["muid"]
        if not muids and not options["sources"]:
            muids = [_muid(text) for text in settings.METERS_DEFAULT_MUIDS]
        start = options["start"]
        if options["full"]:
            start = parse_moment(settings.METERS_HISTORY_START, ZoneInfo(settings.TIME_ZONE))

        self._verbosity = options["verbosity"]
        self._live = self._verbosity >= 1 and sys.stderr.isatty()
        session = http_session()
        common = {"strict": options["strict"], "session": session}
        self._terminated = False
        previous = signal.signal(signal.SIGTERM, self._terminate)
        try:
            reports = self._ingest(muids, start, options, common)
        except BaseException:
            if self._terminated:
                raise self._stopped() from None
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
        if self._terminated:
            raise self._stopped()

        failed = sum(not report.ok for report in reports)
        if failed:
            raise CommandError(f"{failed} of {len(reports)} source(s) failed")

    def _terminate(self, signum, frame):
        self._terminated = True
        # A second SIGTERM must not interrupt the rollback the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    def _stopped(self) -> CommandError:
        return CommandError(
            "stopped by SIGTERM: the source being loaded was rolled back, nothing of it is "
            "stored; run again to load it",
            returncode=TERMINATED_EXIT,
        )

    def _ingest(self, muids, start, options, common) -> list[IngestReport]:
        reports = [
            self._show(
                ingest_unit(
                    muid,
                    start=start,
                    stop=options["stop"],
                    fallback_dir=options["fallback_dir"],
                    progress=self._progress(str(muid)),
                    **common,
                )
            )
            for muid in muids
        ]
        reports += [
            self._show(ingest_location(location, progress=self._progress(location), **common))
            for location in options["sources"]
        ]
        return reports

    def _progress(self, label: str):
        if not self._live:
            return None

        def show(staged: int) -> None:
            sys.stderr.write(f"\r{label}: {staged:,} readings read")
            sys.stderr.flush()

        return show

    def _show(self, report: IngestReport) -> IngestReport:
        if self._live:
            sys.stderr.write("\r\033[K")  # clear the progress line
        if not report.ok:
            # A source failed by SIGTERM is reported once, by the command's last line.
            if not self._terminated:
                self.stderr.write(f"{report.source}: FAILED: {report.error}")
            return report
        if self._verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(_summary(report)))
            if report.note:
                self.stdout.write(f"  note: {report.note}")
            for rejection in report.rejections:
                self.stdout.write(self.style.WARNING(f"  rejected {rejection}"))
            if report.rejected > len(report.rejections):
                self.stdout.write(f"  ... {report.rejected - len(report.rejections)} more rejected")
        return report


def _summary(report: IngestReport) -> str:
    fields = [
        ("unit", ",".join(report.units) or "-"),
        ("obis", ",".join(report.obis_codes) or "-"),
        ("received", report.records),
        ("inserted", report.inserted),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
        ("first", format_utc(report.first) if report.first else "-"),
        ("last", format_utc(report.last) if report.last else "-"),
        ("seconds", f"{report.seconds:.2f}"),
        ("readings/s", f"{report.readings_per_second:.0f}"),
    ]
    return f"{report.source}: " + " ".join(f"{name}={value}" for name, value in fields)
