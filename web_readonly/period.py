"""The period selector of the report pages: last 7/30/90 days or custom dates, read from
the query string, in the configured time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from storage.reports import PRESETS, Period

TIMEZONE = web.AppKey("timezone", ZoneInfo)  # the zone of every day and time shown
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class PeriodChoice:
    """What the form shows and what the queries get; `period` is None for "any time"."""

    period: Period | None
    days: str  # "7", "30", "90", "custom" or "" (any time)
    start: str  # the custom fields as ISO dates, filled in from the period
    end: str
    invalid: bool = False  # custom dates that could not be read: the default applies

    def query(self) -> dict[str, str]:
        """The query-string fields that select this period again."""
        if self.days == "custom":
            return {"days": "custom", "from": self.start, "to": self.end}
        return {"days": self.days}


def choose_period(
    query: Mapping[str, str], tz: ZoneInfo, now: datetime, *, allow_any: bool = False
) -> PeriodChoice:
    """`days=7|30|90`, or `days=custom&from=YYYY-MM-DD&to=YYYY-MM-DD` (or just from/to);
    without a choice the last 30 days, or any time when `allow_any`."""
    days = query.get("days", "")
    start, end = query.get("from", "").strip(), query.get("to", "").strip()
    if days == "custom" or (not days and (start or end)):
        try:
            period = Period.custom(start or end, end or start, tz)
        except ValueError:
            return _preset(DEFAULT_DAYS, tz, now, invalid=True)
        return PeriodChoice(period, "custom", period.start.isoformat(), period.end.isoformat())
    if days.isdigit() and int(days) in PRESETS:
        return _preset(int(days), tz, now)
    if allow_any:
        return PeriodChoice(None, "", "", "", invalid=bool(days))
    return _preset(DEFAULT_DAYS, tz, now, invalid=bool(days))


def _preset(days: int, tz: ZoneInfo, now: datetime, *, invalid: bool = False) -> PeriodChoice:
    period = Period.last(days, tz, now)
    return PeriodChoice(
        period, str(days), period.start.isoformat(), period.end.isoformat(), invalid=invalid
    )


def local(moment: datetime | None, tz: ZoneInfo) -> str:
    """A stored naive UTC time as the configured zone's `YYYY-MM-DD HH:MM`."""
    if moment is None:
        return ""
    return moment.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_naive(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """The same in the zone, naive, for a CSV cell."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def day_label(day: date) -> str:
    return day.strftime("%d.%m")
