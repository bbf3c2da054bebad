"""The benchmark's synthetic feeds (bench/feeds.py) are valid documents in the endpoint's shape,
served over loopback HTTP and loaded by the ingest as they are. Timings are not tested."""

import io
from collections import Counter

from bench.feeds import CONSUMPTION_OBIS, PV_OBIS, readings, serve, unit_muid, write_feed
from meters.ingest import ingest_location
from meters.ingest.parse import Rejection, parse_readings
from meters.models import Channel, Reading


def test_a_feed_holds_units_times_days_times_96_valid_readings(tmp_path):
    path = tmp_path / "feed.json"

    written = write_feed(path, units=2, days=3)

    items = list(parse_readings(io.BytesIO(path.read_bytes())))
    assert written == len(items) == 2 * 3 * 96
    assert not [item for item in items if isinstance(item, Rejection)]
    assert Counter(item.obis for item in items) == {CONSUMPTION_OBIS: 288, PV_OBIS: 288}


def test_photovoltaic_units_produce_nothing_at_night_and_consumers_always_draw():
    rows = list(readings(units=2, days=2))
    night = [v for _, obis, text, v in rows if obis == PV_OBIS and text[11:13] in ("00", "01")]
    assert night
    assert not any(night)
    assert all(v > 0 for _, obis, _, v in rows if obis == CONSUMPTION_OBIS)


def test_the_same_arguments_give_the_same_bytes_and_changed_alters_one_percent(tmp_path):
    write_feed(tmp_path / "a.json", units=1, days=5)
    write_feed(tmp_path / "b.json", units=1, days=5)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    plain = list(readings(units=1, days=5))
    changed = list(readings(units=1, days=5, changed=0.01))
    # One reading in each hundred: 480 readings hold five such hundreds (the last one partly).
    assert sum(a[3] != b[3] for a, b in zip(plain, changed, strict=True)) == 5


def test_a_served_feed_loads_through_the_ingest_and_reloads_unchanged(tmp_path, db):
    write_feed(tmp_path / "feed.json", units=2, days=2)

    with serve(tmp_path) as base:
        first = ingest_location(f"{base}/feed.json")
        again = ingest_location(f"{base}/feed.json")

    assert (first.inserted, first.rejected) == (384, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 384)
    assert Reading.objects.count() == 384
    assert set(Channel.objects.values_list("unit__muid", flat=True)) == {
        unit_muid(0),
        unit_muid(1),
    }
