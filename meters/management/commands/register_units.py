"""Register units for polling by `ingest_meters` (the configured METERS_DEFAULT_MUIDS by default).

A fleet is registered from a file of muids, one per line (`--file`, `-` for standard input),
with its source and interval. Idempotent: a unit already stored keeps its registration (an
operator may have disabled it in the admin, or given it its own source), so deployments run it
after every migration; the admin changes a stored unit.
"""

import sys
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from meters.ingest.schedule import Registration, register
from meters.models import Unit

# Units named one by one in the report; a fleet's registration is counted instead.
NAMED = 10


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "muids", nargs="*", metavar="MUID", help="default: METERS_DEFAULT_MUIDS"
        )
        parser.add_argument(
            "--file",
            metavar="PATH",
            help="read muids from PATH, one per line ('-': standard input; '#' starts a comment)",
        )
        parser.add_argument(
            "--source-url",
            default="",
            metavar="URL",
            help="the meter-data API of the units added (default: METERS_SOURCE_BASE_URL)",
        )
        parser.add_argument(
            "--interval",
            metavar="MINUTES",
            help="minutes between two polls of the units added "
            "(default: METERS_POLL_INTERVAL_MINUTES)",
        )

    def handle(self, *args, **options):
        named = [("argument", text) for text in options["muids"]]
        if options["file"]:
            named += _lines(options["file"])
        if not named:
            named = [("METERS_DEFAULT_MUIDS", text) for text in settings.METERS_DEFAULT_MUIDS]
        registration = register(
            _muids(named),
            source_url=_field("source_url", options["source_url"], "--source-url"),
            poll_interval=_interval(options["interval"]),
        )
        if options["verbosity"] >= 1:
            self.stdout.write(_report(registration))


def _lines(path: str) -> list[tuple[str, str]]:
    """(where, text) of each muid in the file at `path`."""
    try:
        if path == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    named = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            named.append((f"line {number} of {path}", text))
    return named


def _muids(named: Iterable[tuple[str, str]]) -> list[uuid.UUID]:
    muids = []
    for where, text in named:
        try:
            muids.append(uuid.UUID(text))
        except ValueError:
            raise CommandError(f"{where}: {text[:60]!r} is not a UUID") from None
    return muids


def _field(name: str, value: object, option: str) -> Any:
    """`value` checked by the Unit field's own rules, as the admin checks it."""
    try:
        return Unit._meta.get_field(name).clean(value, None)
    except ValidationError as error:
        raise CommandError(f"{option}: {' '.join(error.messages)}") from None


def _interval(minutes: str | None) -> timedelta | None:
    if minutes is None:
        return None
    try:
        interval = timedelta(minutes=float(minutes))
    except (ValueError, OverflowError):
        raise CommandError(f"--interval: {minutes!r} is not a number of minutes") from None
    return _field("poll_interval", interval, "--interval")


def _report(registration: Registration) -> str:
    added, kept, not_polled = registration
    line = f"registered {len(added)} unit(s) for polling"
    if added and len(added) <= NAMED:
        line += f": {', '.join(map(str, added))}"
    if kept:
        line += f"; {len(kept)} stored already, kept as they are"
        if not_polled:
            line += (
                f" ({len(not_polled)} of them not polled: tick 'polled' on the unit in the admin)"
            )
    elif not added:
        line += " (none named)"
    return line
