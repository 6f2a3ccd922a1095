"""The tokenizer: `#N @target !prio ^due from <who>` anywhere in a message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from commands.errors import UsageError

_TYPOGRAPHIC = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‟": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "—": "-",
        "–": "-",
        "−": "-",
        "‐": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "№": "#",
    }
)

PRIORITIES: dict[str, int] = {
    "low": 1,
    "normal": 2,
    "high": 3,
    "urgent": 4,
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "низкий": 1,
    "обычный": 2,
    "высокий": 3,
    "срочно": 4,
    "срочный": 4,
}
PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}

_WEEKDAYS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "пн": 0,
    "вт": 1,
    "ср": 2,
    "чт": 3,
    "пт": 4,
    "сб": 5,
    "вс": 6,
}
_FROM_WORDS = {"from", "от"}


def normalize(text: str) -> str:
    """Undo what phone keyboards autocorrect: typographic quotes, dashes, odd spaces."""
    return text.translate(_TYPOGRAPHIC).strip()


@dataclass
class Tokens:
    numbers: list[int] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    priority: int | None = None
    due: date | None = None
    who: str | None = None
    words: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.words)


def parse_due(value: str, today: date) -> date:
    """`today`, `tomorrow`, a weekday (the next one), `27.11`, `2026-11-27`."""
    word = value.lower()
    if word in ("today", "сегодня"):
        return today
    if word in ("tomorrow", "завтра"):
        return today + timedelta(days=1)
    if word[:3] in _WEEKDAYS or word[:2] in _WEEKDAYS:
        wanted = _WEEKDAYS.get(word[:3], _WEEKDAYS.get(word[:2], 0))
        ahead = (wanted - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", word):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?", word):
            day = date(int(m[3] or today.year), int(m[2]), int(m[1]))
            if m[3] is None and day < today:
                day = day.replace(year=today.year + 1)
            return day
    except ValueError:
        pass
    raise UsageError("bad_due", value=value)


_PART = re.compile(r'"([^"]*)"|(\S+)')


def split_words(text: str) -> list[str]:
    """Words, with a double-quoted phrase as one word (apostrophes stay text)."""
    if text.count('"') % 2:
        raise UsageError("bad_quote")
    return [m[1] if m[1] is not None else m[2] for m in _PART.finditer(text)]


def tokenize(text: str, today: date) -> Tokens:
    """Split a message (without its command word) into tokens and the remaining text."""
    parts = split_words(text)
    tokens = Tokens()
    i = 0
    while i < len(parts):
        part = parts[i]
        low = part.lower()
        if re.fullmatch(r"#\d{1,9}", part):
            tokens.numbers.append(int(part[1:]))
        elif len(part) > 1 and part[0] == "@":
            tokens.targets.append(low[1:])
        elif len(part) > 1 and part[0] == "!":
            if low[1:] not in PRIORITIES:
                raise UsageError("bad_priority", value=part)
            tokens.priority = PRIORITIES[low[1:]]
        elif len(part) > 1 and part[0] == "^":
            tokens.due = parse_due(part[1:], today)
        elif low in _FROM_WORDS and i + 1 < len(parts):
            i += 1
            tokens.who = parts[i]
        else:
            tokens.words.append(part)
        i += 1
    return tokens


def split_command(text: str) -> tuple[str, str]:
    """The command word (lower case, a leading `/` or `!` dropped) and the rest."""
    parts = normalize(text).split(maxsplit=1)  # a newline or tab ends the word too
    head = parts[0].lstrip("/!").lower() if parts else ""
    return head, parts[1].strip() if len(parts) > 1 else ""
