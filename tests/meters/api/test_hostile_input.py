"""Hostile and malformed requests, as a user who reads only the consumer: a 400 or an empty
(or own-data) answer, never a 500 and never the producer's data. test_errors.py fuzzes the
parameters with Hypothesis; test_fuzz.py runs schemathesis on the whole schema."""

from urllib.parse import quote

import pytest

from tests.conftest import CONSUMER, PRODUCER
from tests.meters.api.conftest import AGGREGATE, READINGS, UNITS, body

INJECTION = "' OR '1'='1"
HOSTILE = {
    "sql in muid": f"{READINGS}?muid={quote(str(PRODUCER.muid) + INJECTION)}",
    "sql in obis": f"{READINGS}?obis={quote(INJECTION)}",
    "sql in quality": f"{READINGS}?quality={quote(INJECTION)}",
    "sql in quality of a union": f"{READINGS}?quality={quote('x UNION SELECT * FROM auth_user--')}",
    "sql in tz": f"{AGGREGATE}?interval=day&tz={quote('UTC; DROP TABLE meters_reading')}",
    "sql in ordering": f"{READINGS}?ordering={quote('timestamp; DELETE FROM meters_unit')}",
    "sql in interval": f"{AGGREGATE}?interval={quote(INJECTION)}",
    "sql in agg": f"{AGGREGATE}?interval=day&agg={quote('sum(value)) --')}",
    "sql in cursor": f"{READINGS}?cursor={quote(INJECTION)}",
    "sql in the unit path": f"{UNITS}{quote(INJECTION)}/",
    "huge page_size": f"{READINGS}?page_size={10**30}",
    "negative page_size": f"{READINGS}?page_size=-1",
    "zero page_size": f"{READINGS}?page_size=0",
    "page_size in exponent form": f"{READINGS}?page_size=1e3",
    "short uuid": f"{READINGS}?muid=95ce3367-cbce-4a4d-bbe3-da082831d7b",
    "uuid with a non-hex digit": f"{READINGS}?muid=00000000-0000-0000-0000-00000000000g",
    "uuid of the hidden unit in braces": f"{READINGS}?muid=%7B{PRODUCER.muid}%7D",
    "hidden unit in upper case": f"{READINGS}?muid={str(PRODUCER.muid).upper()}",
    "hidden unit in the unit path, upper case": f"{UNITS}{str(PRODUCER.muid).upper()}/",
    "far past start": f"{READINGS}?start=0001-01-01",
    "far future end": f"{READINGS}?end=9999-12-31T23:59:59Z",
    "year 10000": f"{AGGREGATE}?interval=day&start=10000-01-01",
    "far range at 15 minutes": f"{AGGREGATE}?interval=15min&start=1970-01-01&end=2199-12-31",
    "unknown zone": f"{AGGREGATE}?interval=day&tz=Mars/Olympus",
    "inverted POSIX zone": f"{AGGREGATE}?interval=day&tz=Etc/GMT%2B10",
    "path as a zone": f"{AGGREGATE}?interval=day&tz=..%2F..%2Fetc%2Fpasswd",
    "null byte in a zone": f"{AGGREGATE}?interval=day&tz=UTC%00",
    "null byte in quality": f"{READINGS}?quality=measured%00",
    "null byte in start": f"{READINGS}?start=2023-02-01%00",
    "offset out of range": f"{READINGS}?start=2023-02-01T00:00:00%2B25:00",
    "repeated muid": f"{READINGS}?" + "&".join([f"muid={CONSUMER.muid}"] * 100),
    "one muid too many": f"{READINGS}?" + "&".join(f"muid={CONSUMER.muid}" for _ in range(101)),
    "repeated conflicting interval": f"{AGGREGATE}?interval=day&interval=hour&interval=x",
    "very long value": f"{READINGS}?quality={'q' * 100_000}",
    "very long muid list": f"{READINGS}?muid=" + ",".join([str(CONSUMER.muid)] * 5000),
    "thousands of parameters": f"{READINGS}?" + "&".join(f"p{i}=1" for i in range(5000)),
    "unicode everywhere": f"{AGGREGATE}?interval=%F0%9F%94%A5&tz=%E2%80%AE&quality=%C3%A9",
}


@pytest.mark.parametrize("url", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_request_gets_a_client_answer_without_another_users_data(
    challenge_data, reader_client, url
):
    response = reader_client(CONSUMER.muid).get(url)
    text = body(response)

    assert response.status_code in (200, 400, 404), text[:500]
    if response.status_code == 200:
        assert str(PRODUCER.muid) not in text.lower()
    else:
        # An error may quote what the client sent (its own muid text), never data. Only
        # Django's guard against thousands of parameters answers its plain-text 400 page.
        if response["Content-Type"] == "application/json":
            assert set(response.json()) == {"errors"}
        assert PRODUCER.obis not in text
