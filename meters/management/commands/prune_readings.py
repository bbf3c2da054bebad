"""Remove raw readings older than a retention period, whole UTC months at a time
(meters/partitions.py): on PostgreSQL the monthly partitions that end before the boundary are
dropped, on SQLite the rows are deleted in chunks. The rollups are kept; each channel's span
and count are corrected and the boundary is recorded, so the API can say which buckets have
no raw readings any more.

    python manage.py prune_readings --older-than 365d [--dry-run]

Without --older-than the period is METERS_RETENTION_DAYS; 0 (the default) turns retention off.
"""

import re
from argparse import ArgumentTypeError
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from meters import partitions
from meters.moments import format_utc

DAYS = re.compile(r"(\d+)d")


def _days(text: str) -> timedelta:
    match = DAYS.fullmatch(text.strip())
    if not match or int(match[1]) < 1:
        raise ArgumentTypeError(f"a number of days such as 365d, got {text!r}")
    return timedelta(days=int(match[1]))


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=_days,
            metavar="DAYSd",
            help="e.g. 365d (default: METERS_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be removed, remove nothing"
        )

    def handle(self, *args, **options):
        older_than = options["older_than"]
        if older_than is None:
            if not settings.METERS_RETENTION_DAYS:
                self.stdout.write("retention is off (METERS_RETENTION_DAYS=0): nothing pruned")
                return
            older_than = timedelta(days=settings.METERS_RETENTION_DAYS)
        now = timezone.now()
        before = partitions.retention_boundary(older_than=older_than, now=now)
        try:
            pruned = partitions.prune_readings(before=before, now=now, dry_run=options["dry_run"])
        except DatabaseError as error:
            raise CommandError(f"nothing pruned: {str(error).strip()}") from None
        verb = "would remove" if options["dry_run"] else "removed"
        if options["verbosity"] >= 1:
            for name, readings in pruned.partitions.items():
                if not readings and name == partitions.DEFAULT_PARTITION:
                    continue
                whole = "" if name == partitions.DEFAULT_PARTITION else " (dropped whole)"
                self.stdout.write(f"{name}: {verb} {readings} readings{whole}")
        self.stdout.write(
            f"{verb} {pruned.readings} raw readings before {format_utc(before)} "
            f"of {pruned.channels} channels"
            + ("" if options["dry_run"] else "; their spans and counts are corrected")
        )
