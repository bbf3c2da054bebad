"""Build the hourly and daily rollups of readings stored before them (meters/rollups.py).

Run after migrating a database that already holds readings, and after changing
DJANGO_TIME_ZONE (the daily rollups are of its local days). Chunked, one transaction per chunk
of channels, and resumable: run again after an interruption, it goes on where it stopped.
Nothing to do when the rollups are complete, so deployments run it after every migration.
Until the rollups of a grain are complete, the aggregates read the readings.
"""

from django.core.management.base import BaseCommand, CommandError

from meters.rollups import rebuild


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--chunk", type=int, default=100, help="channels per transaction (default: 100)"
        )
        parser.add_argument(
            "--restart", action="store_true", help="build every rollup again, from the start"
        )

    def handle(self, *args, **options):
        if options["chunk"] < 1:
            raise CommandError("--chunk must be at least 1")
        channels = 0
        for step in rebuild(chunk=options["chunk"], restart=options["restart"]):
            channels += step.channels
            if options["verbosity"] >= 2:
                self.stdout.write(
                    f"{step.grain} rollups: {step.channels} channel(s), through id {step.through}"
                )
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"rollups complete ({channels} channel-grain(s) rebuilt)"
                if channels
                else "rollups complete (nothing to rebuild)"
            )
