"""Query parameters of the readings endpoints: FilterSets that validate them, then filter.

Each parameter is parsed into a domain value (UUID, hex OBIS code, aware datetime, ZoneInfo)
by the rules of meters/params.py, which the analysis pages share, before it reaches a query;
anything that does not parse is a 400 naming the parameter.
"""

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from meters.models import Reading
from meters.params import (
    IntervalField,
    RangeForm,
    ZoneField,
    parse_muid,
    parse_obis,
    parse_quality,
)
from meters.selectors import Agg

# Values one list parameter (muid, obis, quality) may carry.
MAX_VALUES = 100


class ValuesWidget(forms.TextInput):
    """Values repeated (?muid=a&muid=b), comma-separated (?muid=a,b), or both."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        return [part.strip() for value in values if value for part in value.split(",")]


class ValuesField(forms.Field):
    """A list of values, each parsed by `parse`; duplicates dropped, order kept."""

    widget = ValuesWidget

    def __init__(self, *, parse, **kwargs):
        self.parse = parse
        super().__init__(**kwargs)

    def to_python(self, value):
        texts = [text for text in value or [] if text]
        if len(texts) > MAX_VALUES:
            raise ValidationError(f"At most {MAX_VALUES} values.")
        errors, parsed = [], []
        for text in texts:
            try:
                parsed.append(self.parse(text))
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        return list(dict.fromkeys(parsed))


class ValuesFilter(django_filters.Filter):
    field_class = ValuesField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class ZoneFilter(django_filters.Filter):
    field_class = ZoneField


class IntervalFilter(django_filters.Filter):
    field_class = IntervalField


class ReadingFilterForm(RangeForm):
    """The shared range rules (meters/params.py), and the defaults of the other parameters."""

    DEFAULTS = {"ordering": "timestamp", "agg": Agg.SUM.value}

    def clean(self):
        data = super().clean()
        for name, default in self.DEFAULTS.items():
            if name in self.fields and name not in self.errors and not data.get(name):
                data[name] = default
        return data


class ReadingFilter(django_filters.FilterSet):
    """The filters both readings endpoints share; each narrows the readings (AND)."""

    muid = ValuesFilter(field_name="channel__unit__muid", parse=parse_muid)
    obis = ValuesFilter(field_name="channel__obis", parse=parse_obis)
    quality = ValuesFilter(field_name="quality", parse=parse_quality)
    start = django_filters.CharFilter(field_name="timestamp", lookup_expr="gte")
    end = django_filters.CharFilter(field_name="timestamp", lookup_expr="lt")
    # Read by the form (plain dates in start/end) and by the aggregation; selects no rows.
    tz = ZoneFilter(method="keep")

    class Meta:
        model = Reading
        fields = []
        form = ReadingFilterForm

    def keep(self, queryset, name, value):
        """For parameters that shape the answer rather than select rows."""
        return queryset


class ReadingListFilter(ReadingFilter):
    ordering = django_filters.ChoiceFilter(
        choices=[("timestamp", "oldest first"), ("-timestamp", "newest first")], method="keep"
    )


class ReadingAggregateFilter(ReadingFilter):
    interval = IntervalFilter(method="keep", required=True)
    agg = django_filters.ChoiceFilter(
        choices=[(agg.value, agg.value) for agg in Agg], method="keep"
    )
