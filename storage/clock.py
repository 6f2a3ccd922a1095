"""Time in one convention: naive UTC datetimes in the database, aware ones at the edges."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form stored in every table."""
    return datetime.now(UTC).replace(tzinfo=None)
