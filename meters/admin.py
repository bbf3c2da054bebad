"""Admin for units and readings, fit for tables of tens of millions of readings.

Readings are read-only (the feed is the source of truth). The reading list never counts the
whole table, its date drill-down offers the span of the readings from the channels' spans (no
query over readings), its filters list units and OBIS codes from the small tables, and
qualities from PostgreSQL's statistics once the table is large (selectors.reading_qualities).
Instants are shown through meters.moments.local_text, which a reading stored at the far end of
the calendar cannot break.
"""

import calendar
import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection, models
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from meters.communities import share_errors
from meters.ingest import ingest, unit_sources
from meters.ingest.schedule import failing_units, overdue_units
from meters.models import Channel, Community, Member, Reading, Unit
from meters.moments import local_text
from meters.params import parse_muid, parse_obis, parse_quality
from meters.partitions import estimated_readings
from meters.selectors import reading_qualities, readings_span
from meters.tasks import enqueue


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "obis",
        "code",
        "description",
        "first_reading",
        "last_reading",
        "reading_count",
    ]

    @admin.display(description="readable code")
    def code(self, channel: Channel) -> str:
        return channel.code

    @admin.display(description="description")
    def description(self, channel: Channel) -> str:
        return channel.decoded.description

    @admin.display(description="first reading")
    def first_reading(self, channel: Channel) -> str:
        return local_text(channel.first_reading_at)

    @admin.display(description="last reading")
    def last_reading(self, channel: Channel) -> str:
        return local_text(channel.last_reading_at)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PollStateFilter(admin.SimpleListFilter):
    """The units an operator looks at first: those behind their schedule, those whose last
    poll failed, those waiting on the task queue."""

    title = "poll state"
    parameter_name = "poll"

    def lookups(self, request, model_admin):
        return [("overdue", "overdue"), ("failing", "failing"), ("queued", "queued")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(pk__in=overdue_units(now=timezone.now()).values("pk"))
        if self.value() == "failing":
            return queryset.filter(pk__in=failing_units().values("pk"))
        if self.value() == "queued":
            return queryset.filter(queued_at__isnull=False)
        return queryset


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = [
        "muid",
        "channel_codes",
        "first_reading_at",
        "last_reading_at",
        "lag",
        "readings",
        "poll_enabled",
        "last_success_at",
        "consecutive_failures",
        "next_poll_at",
        "error",
    ]
    search_fields = ["=muid"]
    poll_state = [
        "last_poll_at",
        "last_success_at",
        "consecutive_failures",
        "last_error",
        "queued_at",
    ]
    fieldsets = [
        (None, {"fields": ["muid", "links", "created_at"]}),
        (
            "Polling (ingest_meters polls the enabled units that are due)",
            {
                "fields": [
                    "poll_enabled",
                    "source_url",
                    "poll_interval",
                    "next_poll_at",
                    *poll_state,
                ]
            },
        ),
        # Who may read the unit's data (meters.selectors.visible_units); staff read every unit.
        ("Access", {"fields": ["users", "groups"]}),
    ]
    filter_horizontal = ["users", "groups"]
    list_filter = [PollStateFilter, "poll_enabled", "groups"]
    actions = ["poll_now", "stop_polling", "start_polling"]
    # A source URL typed without a scheme is https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [ChannelInline]

    def get_readonly_fields(self, request, obj=None):
        # A unit's muid is its identity: given once, when the unit is registered here.
        return ["links", "created_at", *self.poll_state, *(["muid"] if obj else [])]

    def get_changeform_initial_data(self, request):
        return {"poll_enabled": True, **super().get_changeform_initial_data(request)}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("channels")

    @admin.display(description="channels")
    def channel_codes(self, unit: Unit) -> str:
        return ", ".join(channel.code for channel in unit.channels.all())

    @admin.display(description="first reading")
    def first_reading_at(self, unit: Unit) -> str:
        return local_text(
            min(
                (c.first_reading_at for c in unit.channels.all() if c.first_reading_at),
                default=None,
            )
        )

    @admin.display(description="last reading")
    def last_reading_at(self, unit: Unit) -> str:
        return local_text(
            max((c.last_reading_at for c in unit.channels.all() if c.last_reading_at), default=None)
        )

    @admin.display(description="readings")
    def readings(self, unit: Unit) -> int:
        return sum(channel.reading_count for channel in unit.channels.all())

    @admin.display(description="lag")
    def lag(self, unit: Unit) -> str:
        """The age of the unit's newest reading."""
        newest = max(
            (c.last_reading_at for c in unit.channels.all() if c.last_reading_at), default=None
        )
        return timesince(newest, depth=1) if newest else "-"

    @admin.display(description="last error")
    def error(self, unit: Unit) -> str:
        return Truncator(unit.last_error).chars(80) or "-"

    @admin.action(description="Poll the selected units now")
    def poll_now(self, request, queryset) -> None:
        """On the task queue when there is one (a unit queued already is not queued twice);
        without a broker, here and now, as `ingest_meters --muid` would."""
        muids = list(queryset.values_list("muid", flat=True))
        if settings.CELERY_BROKER_URL:
            queued = enqueue(muids)
            waiting = len(muids) - len(queued)
            self.message_user(
                request,
                f"Queued {len(queued)} unit(s) for polling"
                + (f"; {waiting} queued already." if waiting else "."),
                messages.SUCCESS,
            )
            return
        reports = ingest(unit_sources(muids))
        failed = [report for report in reports if not report.ok]
        for report in failed:
            self.message_user(request, f"{report.source}: {report.error}", messages.ERROR)
        self.message_user(
            request,
            f"Polled {len(reports) - len(failed)} of {len(reports)} unit(s).",
            messages.SUCCESS if not failed else messages.WARNING,
        )

    @admin.action(description="Stop polling the selected units")
    def stop_polling(self, request, queryset) -> None:
        stopped = queryset.filter(poll_enabled=True).update(poll_enabled=False)
        self.message_user(request, f"Stopped polling {stopped} unit(s).", messages.SUCCESS)

    @admin.action(description="Start polling the selected units")
    def start_polling(self, request, queryset) -> None:
        """Each is due at once: its schedule starts again from now."""
        started = queryset.filter(poll_enabled=False).update(poll_enabled=True, next_poll_at=None)
        self.message_user(
            request, f"Started polling {started} unit(s): due at the next run.", messages.SUCCESS
        )

    def view_on_site(self, unit: Unit) -> str:
        return reverse("analysis:report", args=[unit.muid])

    @admin.display(description="see")
    def links(self, unit: Unit) -> str:
        if unit.pk is None:  # a unit being registered
            return "-"
        return format_html(
            '<a href="{}">report</a> · <a href="{}?unit={}">readings</a> · '
            '<a href="{}">API</a> · <a href="{}?muid={}">API readings</a>',
            reverse("analysis:report", args=[unit.muid]),
            reverse("admin:meters_reading_changelist"),
            unit.muid,
            reverse("unit-detail", args=[unit.muid]),
            reverse("reading-list"),
            unit.muid,
        )


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's row estimate for the unfiltered table instead of COUNT(*)."""

    # Below this estimate the table is small enough to count for real.
    exact_below = 100_000

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                estimate = estimated_readings(cursor)
            if estimate >= self.exact_below:
                return estimate
        return super().count


class ParsedListFilter(admin.SimpleListFilter):
    """A list filter whose value is parsed by the rule the API applies to that parameter
    (meters/params.py) before it reaches a query: a value that does not parse (?unit=abc)
    matches no reading, as an unknown one does, instead of failing in the database."""

    lookup: str

    @staticmethod
    def parse(text: str) -> object:
        raise NotImplementedError

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            value = self.parse(self.value())
        except ValidationError:
            return queryset.none()
        return queryset.filter(**{self.lookup: value})


class UnitFilter(ParsedListFilter):
    title = "unit"
    parameter_name = "unit"
    lookup = "channel__unit__muid"
    parse = staticmethod(parse_muid)

    def lookups(self, request, model_admin):
        return [(str(unit.muid), str(unit.muid)) for unit in Unit.objects.all()]


class ObisFilter(ParsedListFilter):
    title = "OBIS code"
    parameter_name = "obis"
    lookup = "channel__obis"
    parse = staticmethod(parse_obis)

    def lookups(self, request, model_admin):
        codes = Channel.objects.order_by("obis").values_list("obis", flat=True).distinct()
        return [(code, Channel(obis=code).code) for code in codes]


class QualityFilter(ParsedListFilter):
    title = "quality"
    parameter_name = "quality"
    lookup = "quality"
    parse = staticmethod(parse_quality)

    def lookups(self, request, model_admin):
        # Only the qualities readings have: a choice that lists nothing is a dead end.
        return [(quality, quality) for quality in reading_qualities()]


def reading_key(reading: Reading) -> str:
    """How the admin's URLs name a reading: its primary key as JSON, `[7, "2023-02-01T00:00:00
    +00:00"]`, which CompositePrimaryKey.to_python reads back (quoted as the admin quotes)."""
    return quote(Reading._meta.pk.value_to_string(reading))


class ReadingChangeList(ChangeList):
    def url_for_result(self, result: Reading) -> str:
        return reverse("admin:meters_reading_change", args=[reading_key(result)])


class ReadingAdmin(admin.ModelAdmin):
    list_display = ["when", "unit", "obis", "value", "quality", "measurement"]
    fields = readonly_fields = ["channel", "when", "value", "quality", "measurement"]
    list_select_related = ["channel__unit"]
    list_filter = [UnitFilter, ObisFilter, QualityFilter]
    search_fields = ["=channel__unit__muid"]
    date_hierarchy = "timestamp"
    date_hierarchy_drilldown = False  # django-admin-lightweight-date-hierarchy: no DISTINCT query
    # The primary key's order, newest first within a channel, served by its index (one short
    # scan per monthly partition): ordering by timestamp across all units would sort the whole
    # table (filtered to one unit, the index serves either).
    ordering = ["-channel", "-timestamp"]
    sortable_by = []
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="timestamp")
    def when(self, reading: Reading) -> str:
        return local_text(reading.timestamp, "Y-m-d H:i:s")

    @admin.display(description="unit", ordering="channel__unit__muid")
    def unit(self, reading: Reading) -> str:
        return str(reading.channel.unit.muid)

    @admin.display(description="OBIS code")
    def obis(self, reading: Reading) -> str:
        return reading.channel.code

    def get_date_hierarchy_drilldown(self, year: int | None, month: int | None):
        """The years, months or days of the drill-down (django-admin-lightweight-date-hierarchy)
        that hold readings' span, from the channels' spans in the current zone: its default
        offers three years either side of today, readings or not."""
        first, last = readings_span()
        if first is None or last is None:
            return []
        first, last = timezone.localtime(first).date(), timezone.localtime(last).date()
        if year is None:
            return [datetime.date(y, 1, 1) for y in range(first.year, last.year + 1)]
        if month is None:
            span = ((first.year, first.month), (last.year, last.month))
            return [
                datetime.date(year, m, 1) for m in range(1, 13) if span[0] <= (year, m) <= span[1]
            ]
        days = calendar.monthrange(year, month)[1]
        return [
            day
            for day in (datetime.date(year, month, d) for d in range(1, days + 1))
            if first <= day <= last
        ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changelist(self, request, **kwargs):
        return ReadingChangeList


# Django 5.2 refuses to register a model with a composite primary key (its admin support is
# still to come). The readings' admin only lists and shows them, never writes: its links name
# a reading by reading_key, and the page of one reading finds it by that key through
# ModelAdmin.get_object (CompositePrimaryKey.to_python). So it is registered directly.
admin.site._registry[Reading] = ReadingAdmin(Reading, admin.site)


class MemberFormSet(BaseInlineFormSet):
    """The shares checked together, by the rule the API applies (meters.communities)."""

    def clean(self):
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        members = [(data["role"], data.get("share")) for data in kept if data.get("role")]
        errors = share_errors(self.instance.allocation, members)
        if errors:
            raise ValidationError(errors)


class MemberInline(admin.TabularInline):
    model = Member
    formset = MemberFormSet
    extra = 1
    autocomplete_fields = ["unit"]
    fields = ["unit", "role", "share"]


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    """Communities and their members; a community's page shows its balance."""

    list_display = ["name", "kind", "allocation", "tz", "member_count", "valid_from", "valid_to"]
    list_filter = ["kind", "allocation"]
    search_fields = ["name", "=members__unit__muid"]
    fields = ["name", "kind", "allocation", "tz", "valid_from", "valid_to", "description"]
    inlines = [MemberInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=models.Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, community: Community) -> int:
        return community.member_total

    def view_on_site(self, community: Community) -> str:
        return reverse("analysis:community", args=[community.pk])
