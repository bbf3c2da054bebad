"""Register units for polling by `ingest_meters` (the configured METERS_DEFAULT_MUIDS by default).

Idempotent: a unit already stored keeps its registration (an operator may have disabled it in
the admin), so deployments run it after every migration.
"""

import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from meters.ingest.schedule import register


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "muids", nargs="*", metavar="MUID", help="default: METERS_DEFAULT_MUIDS"
        )

    def handle(self, *args, **options):
        texts = options["muids"] or settings.METERS_DEFAULT_MUIDS
        try:
            muids = [uuid.UUID(text) for text in texts]
        except ValueError as error:
            raise CommandError(f"not a UUID among {' '.join(texts)}: {error}") from None
        added = register(muids)
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"registered {len(added)} unit(s) for polling"
                + (f": {', '.join(map(str, added))}" if added else " (all were stored already)")
            )
