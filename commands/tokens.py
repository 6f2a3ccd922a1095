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

_WEEKDAY_NAMES = [
    ("mon", "monday", "пн", "понедельник"),
    ("tue", "tuesday", "вт", "вторник"),
    ("wed", "wednesday", "ср", "среда", "среду"),
    ("thu", "thursday", "чт", "четверг"),
    ("fri", "friday", "пт", "пятница", "пятницу"),
    ("sat", "saturday", "сб", "суббота", "субботу"),
    ("sun", "sunday", "вс", "воскресенье"),
]
_WEEKDAYS = {name: day for day, names in enumerate(_WEEKDAY_NAMES) for name in names}
_FROM_WORDS = {"from", "от"}
# what after `from` inside the text is surely a customer, not prose ("key from room 5")
_CUSTOMER_LIKE = re.compile(r"\+?[\d()\- ]{3,}|[cс]\d{1,9}")
_NUMBER = re.compile(r"#(\d{1,9})[,.:;]?")
_PRIORITY = re.compile(r"!([\wа-яё]+)", re.IGNORECASE)


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
    lines: list[list[str]] = field(default_factory=list)  # the words, line by line

    @property
    def text(self) -> str:
        """What remains of the message, its line breaks kept."""
        return "\n".join(" ".join(line) for line in self.lines if line)

    def only(self, *allowed: str) -> None:
        """Refuse the kinds of token the command does not take (by field name)."""
        present = {
            "numbers": "#N", "targets": "@target", "priority": "!priority",
            "due": "^due", "who": "from", "words": "text",
        }  # fmt: skip
        for name, shown in present.items():
            if name not in allowed and getattr(self, name) not in (None, []):
                raise UsageError("unexpected_tokens", what=shown)


def parse_due(value: str, today: date) -> date:
    """`today`, `tomorrow`, a weekday (the next one), `27.11`, `2026-11-27`."""
    word = value.lower()
    if word in ("today", "сегодня"):
        return today
    if word in ("tomorrow", "завтра"):
        return today + timedelta(days=1)
    if word in _WEEKDAYS:
        ahead = (_WEEKDAYS[word] - today.weekday()) % 7 or 7
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


_PART = re.compile(r'"([^"\n]*)"|(\S+)')


@dataclass(frozen=True)
class Part:
    text: str
    quoted: bool
    line: int


def split_parts(text: str) -> list[Part]:
    """Words line by line, a double-quoted phrase as one word (apostrophes stay text)."""
    parts = []
    for number, line in enumerate(text.splitlines()):
        if line.count('"') % 2:
            raise UsageError("bad_quote")
        for m in _PART.finditer(line):
            quoted = m[1] is not None
            parts.append(Part(m[1] if quoted else m[2], quoted, number))
    return parts


def split_words(text: str) -> list[str]:
    """Plain words for commands that take no tokens (the admin commands)."""
    return [part.text for part in split_parts(text)]


def _is_customer(parts: list[Part], i: int) -> bool:
    """`from <who>`: always right after the command word; further on only when what
    follows is quoted or looks like a phone number or a customer id."""
    if i + 1 >= len(parts) or parts[i].quoted or parts[i].text.lower() not in _FROM_WORDS:
        return False
    after = parts[i + 1]
    return i == 0 or after.quoted or bool(_CUSTOMER_LIKE.fullmatch(after.text))


def _token(tokens: Tokens, part: Part, today: date) -> bool:
    """Read one token into `tokens`; False when the part is plain text."""
    text, low = part.text, part.text.lower()
    if part.quoted:
        return False
    if m := _NUMBER.fullmatch(text):
        tokens.numbers.append(int(m[1]))
    elif len(text) > 1 and text[0] == "@":
        tokens.targets.append(low[1:])
    elif m := _PRIORITY.fullmatch(text):
        if m[1].lower() not in PRIORITIES:
            raise UsageError("bad_priority", value=text)
        tokens.priority = PRIORITIES[m[1].lower()]
    elif len(text) > 1 and text[0] == "^":
        tokens.due = parse_due(text[1:], today)
    else:
        return False
    return True


def tokenize(text: str, today: date) -> Tokens:
    """Split a message (without its command word) into tokens and the remaining text."""
    parts = split_parts(text)
    tokens = Tokens()
    i = 0
    while i < len(parts):
        part = parts[i]
        if _is_customer(parts, i):
            i += 1
            tokens.who = parts[i].text
        elif not _token(tokens, part, today):
            word = f'"{part.text}"' if part.quoted else part.text
            tokens.words.append(word)
            while len(tokens.lines) <= part.line:
                tokens.lines.append([])
            tokens.lines[part.line].append(word)
        i += 1
    return tokens


def split_command(text: str) -> tuple[str, str]:
    """The command word (lower case, a leading `/` or `!` dropped) and the rest."""
    parts = normalize(text).split(maxsplit=1)  # a newline or tab ends the word too
    head = parts[0].lstrip("/!").lower() if parts else ""
    return head, parts[1].strip() if len(parts) > 1 else ""
