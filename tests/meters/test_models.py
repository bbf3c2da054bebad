import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from meters.models import Channel, MuidText, Unit, energy_sum
from tests.factories import EXPORT, ChannelFactory, ReadingFactory, UnitFactory

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_second_reading_for_the_same_channel_and_time():
    first = ReadingFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        ReadingFactory(channel=first.channel, timestamp=first.timestamp)


def test_one_unit_may_have_an_import_and_an_export_channel_at_the_same_time():
    unit = UnitFactory()
    moment = datetime(2023, 2, 1, tzinfo=UTC)

    ReadingFactory(channel=ChannelFactory(unit=unit), timestamp=moment)
    ReadingFactory(channel=ChannelFactory(unit=unit, obis=EXPORT), timestamp=moment)

    assert unit.channels.count() == 2


def test_the_database_refuses_the_same_obis_code_twice_on_a_unit():
    channel = ChannelFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Channel.objects.create(unit=channel.unit, obis=channel.obis)


def test_a_channel_validates_its_obis_code():
    with pytest.raises(ValidationError):
        ChannelFactory.build(obis="1-0:1.29.0*255").full_clean(exclude=["unit"])


def test_a_channel_reads_as_its_decoded_code():
    channel = ChannelFactory()

    assert channel.code == "1-0:1.29.0*255"
    assert str(channel) == f"{channel.unit.muid} 1-0:1.29.0*255"


def test_energy_sums_carry_no_float_noise():
    # Added as binary floats, 3000 x 0.0337 gives 101.09999999999837.
    channel = ChannelFactory()
    ReadingFactory.create_batch(3000, channel=channel, value=Decimal("0.0337"))

    total = channel.readings.aggregate(total=energy_sum())["total"]

    assert total == Decimal("101.1")


def test_a_muid_as_text_from_the_database_is_its_canonical_form():
    # Letters and digits in every group, so a lost dash or an upper-case digit would show.
    muid = uuid.UUID("1db7649e-9342-4e04-97c7-f0ebb88ed1f8")
    UnitFactory(muid=muid)

    texts = Unit.objects.annotate(text=MuidText("muid")).values_list("text", flat=True)

    assert list(texts) == [str(muid)]
