"""Ingest meter readings into the database.

Without arguments it polls the registered units that are due (see the admin's units, and
`register_units`), each from its last stored reading on; `--all` polls every enabled unit,
`--muid` the units named, SOURCE the documents given (a directory: its `*.json` files). Many
sources are read at once (`--concurrency`). Each source is all or nothing: one that fails
leaves the database as it was and the others still load; the command then exits non-zero.

`--enqueue` puts the polls of those units on the task queue instead (CELERY_BROKER_URL), for
the workers to run; a unit queued already is not queued again.
"""

import signal
import sys
import uuid
from argparse import ArgumentTypeError
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError

from meters.ingest import IngestReport, document_sources, ingest, unit_sources
from meters.ingest.schedule import due_units
from meters.moments import format_utc, parse_moment
from meters.tasks import enqueue, enqueue_due


def _muid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a UUID") from None


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


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
            help="an http(s) URL or a file path of one document, read as given, or a "
            "directory: each of its *.json documents",
        )
        parser.add_argument(
            "--muid",
            action="append",
            type=_muid,
            default=[],
            help="a unit to poll, registered or not (repeatable); "
            "without SOURCE or --muid, the registered units that are due",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="poll every enabled registered unit, due or not",
        )
        parser.add_argument(
            "--concurrency",
            type=_concurrency,
            help="sources read at once (default: METERS_INGEST_CONCURRENCY, "
            f"{settings.METERS_INGEST_CONCURRENCY})",
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
            "--enqueue",
            action="store_true",
            help="put the polls on the task queue (CELERY_BROKER_URL) for the workers, "
            "instead of polling here",
        )
        parser.add_argument(
            "--fallback-dir",
            type=Path,
            help="if a unit's source cannot be reached, read DIR/<muid>.json instead",
        )

    def handle(self, *args, **options):
        if options["full"] and options["start"]:
            raise CommandError("--full and --start exclude each other")
        start = options["start"]
        if options["full"]:
            start = parse_moment(settings.METERS_HISTORY_START, ZoneInfo(settings.TIME_ZONE))
        self._verbosity = options["verbosity"]
        self._live = self._verbosity >= 1 and sys.stderr.isatty()
        if options["enqueue"]:
            self._enqueue(options)
            return

        muids = options["muid"]
        if options["all"] or not (muids or options["sources"]):
            due = due_units(now=datetime.now(UTC), include_not_due=options["all"])
            muids = muids + [
                muid for muid in due.values_list("muid", flat=True) if muid not in muids
            ]
            if not muids and not options["sources"] and self._verbosity >= 1:
                self.stdout.write("no registered unit is due")
        sources = unit_sources(
            muids, start=start, stop=options["stop"], fallback_dir=options["fallback_dir"]
        )
        try:
            sources += document_sources(options["sources"])
        except ValueError as error:
            raise CommandError(str(error)) from None

        self._terminated = False
        previous = signal.signal(signal.SIGTERM, self._terminate)
        try:
            reports = ingest(
                sources,
                strict=options["strict"],
                concurrency=options["concurrency"],
                progress=self._progress(),
                on_report=self._show,
            )
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

    def _enqueue(self, options) -> None:
        polled_here = ["sources", "start", "stop", "full", "strict", "fallback_dir", "concurrency"]
        given = [name for name in polled_here if options[name]]
        if given:
            flags = ", ".join(
                "SOURCE" if n == "sources" else f"--{n.replace('_', '-')}" for n in given
            )
            raise CommandError(
                f"--enqueue queues registered units' polls; {flags} cannot go with it"
            )
        if not settings.CELERY_BROKER_URL:
            raise CommandError("--enqueue needs a broker: set CELERY_BROKER_URL")
        try:
            if options["muid"]:
                queued = enqueue(options["muid"])
            else:
                queued = enqueue_due(include_not_due=options["all"])
        except OperationalError as error:
            raise CommandError(f"cannot reach the broker: {error}") from None
        if self._verbosity >= 1:
            wanted = len(options["muid"]) if options["muid"] else len(queued)
            busy = f", {wanted - len(queued)} queued already" if wanted > len(queued) else ""
            self.stdout.write(f"queued {len(queued)} unit(s){busy}")

    def _terminate(self, signum, frame):
        self._terminated = True
        # A second SIGTERM must not interrupt the rollback the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    def _stopped(self) -> CommandError:
        return CommandError(
            "stopped by SIGTERM: the sources not yet reported were rolled back, nothing of "
            "them is stored; run again to load them",
            returncode=TERMINATED_EXIT,
        )

    def _progress(self):
        if not self._live:
            return None

        def show(staged: int) -> None:
            sys.stderr.write(f"\r{staged:,} readings read")
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
