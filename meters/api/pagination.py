"""Cursor pagination of readings on (timestamp, channel), stable under inserts.

DRF's CursorPagination positions a cursor on one field plus an offset among rows with the same
value. Readings of several channels share timestamps, so a reading inserted between two requests
would shift that offset and repeat or skip a row. The pair (timestamp, channel) is unique (the
primary key of the readings), so here a cursor names exactly one reading and the next page starts
strictly after it, whatever was inserted meanwhile.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from meters.moments import format_utc

CURSOR_PARAM = "cursor"
PAGE_SIZE_PARAM = "page_size"


@dataclass(frozen=True, slots=True)
class Position:
    timestamp: datetime
    channel_id: int
    # True: the page ends just before this position (a link to the previous page).
    backwards: bool


@dataclass(frozen=True, slots=True)
class Page:
    results: list[dict]
    next: str | None
    previous: str | None


def encode_cursor(position: Position) -> str:
    text = f"{format_utc(position.timestamp)}|{position.channel_id}|{int(position.backwards)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        timestamp, channel_id, backwards = text.split("|")
        moment = datetime.fromisoformat(timestamp)
        if moment.tzinfo is None or backwards not in ("0", "1"):
            raise ValueError
        return Position(moment, int(channel_id), backwards == "1")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError(
            {CURSOR_PARAM: ["Invalid cursor: use the next and previous links as given."]}
        ) from None


def page_size(request: Request) -> int:
    """The page_size parameter, bounded by API_MAX_PAGE_SIZE; API_PAGE_SIZE when absent."""
    text = request.query_params.get(PAGE_SIZE_PARAM)
    if text is None or text == "":
        return settings.API_PAGE_SIZE
    limit = settings.API_MAX_PAGE_SIZE
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= limit:
        raise ValidationError(
            {PAGE_SIZE_PARAM: [f"Must be a whole number from 1 to {limit}, got {text[:20]!r}."]}
        )
    return int(text)


def paginate(readings: QuerySet, request: Request, *, descending: bool, fields: list[str]) -> Page:
    """One page of `readings` (rows as dicts of `fields`) with links to its neighbours.

    One query: the page plus one row, which tells whether more follow.
    """
    size = page_size(request)
    text = request.query_params.get(CURSOR_PARAM)
    position = decode_cursor(text) if text else None
    backwards = bool(position and position.backwards)
    # Walking backwards reads the ordering reversed, then flips the page.
    reverse = descending != backwards
    order = ["-timestamp", "-channel_id"] if reverse else ["timestamp", "channel_id"]
    if position:
        after = "gt" if not reverse else "lt"
        readings = readings.filter(
            Q(**{f"timestamp__{after}": position.timestamp})
            | Q(timestamp=position.timestamp, **{f"channel_id__{after}": position.channel_id})
        )
    rows = list(readings.order_by(*order).values("channel_id", *fields)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_previous = more if backwards else position is not None
    return Page(
        results=rows,
        next=_link(request, rows[-1], backwards=False) if rows and has_next else None,
        previous=_link(request, rows[0], backwards=True) if rows and has_previous else None,
    )


def _link(request: Request, row: dict, *, backwards: bool) -> str:
    cursor = encode_cursor(Position(row["timestamp"], row["channel_id"], backwards))
    return replace_query_param(request.build_absolute_uri(), CURSOR_PARAM, cursor)
