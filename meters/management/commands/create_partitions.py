"""Create the monthly partitions of the readings ahead, and move the readings that arrived
in months without one out of the DEFAULT partition into partitions of their own
(meters/partitions.py).

On PostgreSQL only (SQLite's readings are not partitioned: nothing to do). Safe to run at any
time and again: the deployment runs it after every migration and daily.
"""

from argparse import ArgumentTypeError
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from meters import partitions
from meters.moments import EARLIEST, LATEST


def _months(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ArgumentTypeError(f"a whole number of months (0 or more), got {text!r}")
    return int(text)


def _month(text: str) -> datetime:
    try:
        month = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ArgumentTypeError(f"a month such as 2023-01, got {text!r}") from None
    if not EARLIEST <= month < LATEST:
        raise ArgumentTypeError(f"a month from {EARLIEST:%Y-%m} to before {LATEST:%Y-%m}")
    return month


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--months-ahead",
            type=_months,
            default=partitions.MONTHS_AHEAD,
            help=f"months after the current UTC month to create (default "
            f"{partitions.MONTHS_AHEAD})",
        )
        parser.add_argument(
            "--since",
            type=_month,
            metavar="YYYY-MM",
            help="also create the months from this one on (before loading history)",
        )

    def handle(self, *args, **options):
        if not partitions.is_partitioned():
            self.stdout.write("the readings are not partitioned on this database: nothing to do")
            return
        try:
            changes = partitions.create_partitions(
                months_ahead=options["months_ahead"], now=timezone.now(), since=options["since"]
            )
        except DatabaseError as error:
            raise CommandError(f"partitions unchanged: {str(error).strip()}") from None
        if options["verbosity"] >= 1:
            for name in changes.created:
                moved = changes.moved.get(name)
                self.stdout.write(
                    f"created {name}"
                    + (f", {moved} readings moved in from the DEFAULT partition" if moved else "")
                )
            if not changes.created:
                self.stdout.write("every partition was there already")
