"""Synthetic meter feeds in the endpoint's exact JSON shape, and a loopback HTTP server for them.

A feed is `{"data": [record, ...]}`, newest first like the real endpoint, each record
`{"measurement": "energy", "timestamp": "2023-02-28T23:45:00.000Z",
"tags": {"muid": ..., "quality": "measured"}, "<OBIS>": value}`. Units alternate between a
consumption-like profile (import, 0100011D00FF: base load, a day curve, noise) and a
photovoltaic-like one (export, 0100021D00FF: a daylight arc scaled by season and clouds, zero at
night). Values are float sums, so they carry the feed's artefacts (0.17325000000000002).
Everything is seeded: the same arguments give the same bytes.

    python -m bench.feeds --units 2 --days 28 --out /tmp/feeds --serve
"""

import argparse
import functools
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONSUMPTION_OBIS = "0100011D00FF"
PV_OBIS = "0100021D00FF"
START = datetime(2023, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
_NAMESPACE = uuid.UUID("6f1c0a52-52f4-4bd1-9d43-5d5ad3f0e6a1")


def unit_muid(index: int) -> uuid.UUID:
    """The muid of synthetic unit `index` (the same in every feed and database)."""
    return uuid.uuid5(_NAMESPACE, f"unit-{index}")


def unit_obis(index: int) -> str:
    return CONSUMPTION_OBIS if index % 2 == 0 else PV_OBIS


def readings(
    *, units: int, days: int, changed: float = 0.0, first_unit: int = 0
) -> Iterator[tuple[uuid.UUID, str, str, float]]:
    """(muid, obis, timestamp text, value) per unit, newest first within each unit.

    `changed`: the fraction of readings whose value differs (by 1 Wh) from the plain feed.
    """
    moments = [START + STEP * i for i in range(days * 96)]
    moments.reverse()
    texts = [m.strftime("%Y-%m-%dT%H:%M:%S.000Z") for m in moments]
    shapes = [(m.hour + m.minute / 60, m.timetuple().tm_yday) for m in moments]
    every = round(1 / changed) if changed else 0
    for index in range(first_unit, first_unit + units):
        muid, obis = unit_muid(index), unit_obis(index)
        rng = random.Random(index)  # noqa: S311 - synthetic data, not security
        value_of = _consumption if obis == CONSUMPTION_OBIS else _photovoltaic
        for n, (text, (hour, day)) in enumerate(zip(texts, shapes, strict=True)):
            value = value_of(hour, day, rng)
            if every and n % every == every // 2:
                value += 0.001
            yield muid, obis, text, value


def _consumption(hour: float, day: int, rng: random.Random) -> float:
    base = round(0.03 + 0.05 * (1 + math.sin(2 * math.pi * (hour - 7) / 24)), 4)
    season = round(0.015 * math.cos(2 * math.pi * day / 365), 4)
    return base + season + round(0.02 * rng.random(), 4)


def _photovoltaic(hour: float, day: int, rng: random.Random) -> float:
    sun = max(0.0, math.sin(math.pi * (hour - 5) / 14))
    if not sun:
        rng.random()  # keep the sequence aligned whatever the hour
        return 0
    season = 0.6 + 0.4 * math.cos(2 * math.pi * (day - 172) / 365)
    return round(sun * season * 0.9, 4) * round(0.4 + 0.6 * rng.random(), 4)


def write_feed(path: Path, *, units: int, days: int, changed: float = 0.0) -> int:
    """Write one document holding `units` units x `days` days; returns the readings written."""
    count = 0
    with path.open("w", encoding="ascii", buffering=1 << 20) as out:
        out.write('{"data":[')
        separator = ""
        for muid, obis, text, value in readings(units=units, days=days, changed=changed):
            out.write(
                f'{separator}{{"measurement":"energy","timestamp":"{text}",'
                f'"tags":{{"muid":"{muid}","quality":"measured"}},"{obis}":{value!r}}}'
            )
            separator = ","
            count += 1
        out.write("]}")
    return count


LAYOUTS = ("compact", "spaced", "pretty")


def write_unit_documents(
    folder: Path, *, units: int, days: int, layouts: tuple[str, ...] = ("compact",)
) -> int:
    """One document per unit, `<muid>.json`, the units taking `layouts` in turn: `compact`
    as the endpoint writes, `spaced` (a space after `:` and `,`, json.dumps' default) or
    `pretty` (indented, one value per line). Returns the readings written."""
    options = {"compact": {"separators": (",", ":")}, "spaced": {}, "pretty": {"indent": 2}}
    count = 0
    for ordinal in range(units):
        records = [
            {
                "measurement": "energy",
                "timestamp": text,
                "tags": {"muid": str(muid), "quality": "measured"},
                obis: value,
            }
            for muid, obis, text, value in readings(units=1, days=days, first_unit=ordinal)
        ]
        layout = options[layouts[ordinal % len(layouts)]]
        path = folder / f"{unit_muid(ordinal)}.json"
        path.write_text(json.dumps({"data": records}, **layout), encoding="ascii")
        count += len(records)
    return count


def write_csv(path: Path, *, units: int, days: int, channel_ids: dict[uuid.UUID, int]) -> int:
    """The same readings as write_feed, as the CSV a `COPY meters_reading` reads."""
    count = 0
    with path.open("w", encoding="ascii", buffering=1 << 20) as out:
        for muid, _, text, value in readings(units=units, days=days):
            out.write(f"{channel_ids[muid]},{text},{value!r},measured,energy\n")
            count += 1
    return count


class _Handler(SimpleHTTPRequestHandler):
    # Keep-alive, as an API server does: a client reuses its connections.
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production servers set it: otherwise the body, written after the
    # headers, waits for the client's delayed acknowledgement (40 ms on Linux).
    disable_nagle_algorithm = True
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        # A unit's poll asks with query parameters; a static copy ignores them.
        self.path = self.path.split("?", 1)[0]
        super().do_GET()

    def log_message(self, format, *args):  # the base class's signature
        pass


@contextmanager
def serve(directory: Path, *, delay: float = 0.0) -> Iterator[str]:
    """Serve the files of `directory` over HTTP on loopback, each response `delay` seconds
    late (as a remote API is); yields the base URL."""
    handler = type("Handler", (_Handler,), {"delay": delay})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    server.daemon_threads = True
    server.request_queue_size = 256
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--changed", type=float, default=0.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--serve", action="store_true", help="serve --out until interrupted")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"feed-{args.units}x{args.days}.json"
    count = write_feed(args.out / name, units=args.units, days=args.days, changed=args.changed)
    print(f"{args.out / name}: {count} readings")
    if args.serve:
        with serve(args.out) as base:
            print(f"serving {base}/{name} (Ctrl-C to stop)")
            threading.Event().wait()


if __name__ == "__main__":
    main()
