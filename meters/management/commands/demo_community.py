"""Create or reset the demo community: the two challenge units as one what-if community.

The analysis shows they are separate sites (95ce3367 draws as much while 1db7649e exports as
otherwise), so this community never existed: its page answers what a community would have
given them, how much of 95ce3367's consumption the PV of 1db7649e would have covered, quarter
hour by quarter hour. `make run` calls it after the ingest; run again, it resets the community.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse

from meters.models import Community, Member, Unit

PRODUCER = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
CONSUMER = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
NAME = "What-if: 1db7649e's PV shared with 95ce3367"
DESCRIPTION = (
    "A what-if, not a real community: the analysis of the two challenge units shows separate "
    "sites. It answers how much of 95ce3367's consumption the PV of 1db7649e would have "
    "covered, quarter hour by quarter hour, had they formed a local electricity community "
    "(LEG) with dynamic allocation."
)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the server answers, for the printed link (make run passes its own)",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        units = {
            str(unit.muid): unit for unit in Unit.objects.filter(muid__in=[PRODUCER, CONSUMER])
        }
        missing = [muid for muid in (PRODUCER, CONSUMER) if muid not in units]
        if missing:
            raise CommandError(
                f"Unit {', '.join(missing)} is not stored: ingest the challenge data first "
                "(make ingest)."
            )
        community, _ = Community.objects.update_or_create(
            name=NAME,
            defaults={
                "kind": Community.Kind.LEG,
                "allocation": Community.Allocation.DYNAMIC,
                "tz": "Europe/Zurich",
                "valid_from": None,
                "valid_to": None,
                "description": DESCRIPTION,
            },
        )
        community.members.all().delete()
        Member.objects.bulk_create(
            [
                Member(community=community, unit=units[PRODUCER], role=Member.Role.PRODUCER),
                Member(community=community, unit=units[CONSUMER], role=Member.Role.CONSUMER),
            ]
        )
        url = options["url"].rstrip("/") + reverse("analysis:community", args=[community.pk])
        self.stdout.write(f"Demo community {community.pk} ({NAME}): {url}")
