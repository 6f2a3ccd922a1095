"""Phone numbers in one normal form, so a caller is found however the number is typed:
`+7 (495) 123-45-67`, `84951234567`, `1234567` (its last 7 digits) or `4521` (an
internal extension, kept exactly)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

EXTENSION_MAX_DIGITS = 5  # company extensions are short; anything longer is a number


@dataclass(frozen=True)
class Phone:
    raw: str
    digits: str  # E.164 without the plus, or the extension itself
    last7: str | None  # None for an extension

    @property
    def is_extension(self) -> bool:
        return self.last7 is None


def only_digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def parse_phone(raw: str, region: str = "RU") -> Phone | None:
    """A phone as stored; None when the text holds no usable number."""
    digits = only_digits(raw)
    if not digits:
        return None
    if len(digits) <= EXTENSION_MAX_DIGITS:
        return Phone(raw.strip(), digits, None)
    text = raw.strip()
    if region == "RU" and len(digits) == 11 and digits.startswith("8") and "+" not in text:
        text = "+7" + digits[1:]  # the Russian trunk prefix 8 means +7
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    else:  # a local number without its area code, or something odd: keep its digits
        e164 = digits
    return Phone(raw.strip(), e164, e164[-7:])


def split_phones(text: str) -> list[str]:
    """Several numbers in one cell: `+7 495 123-45-67, доб. 4521; 4522`."""
    parts = re.split(r"[,;/\n]|\s(?:доб\.?|ext\.?|x)\s*", text, flags=re.IGNORECASE)
    return [p.strip() for p in parts if p and only_digits(p)]


def search_keys(query: str, region: str = "RU") -> tuple[str, str] | None:
    """What a typed number matches: ("digits", value) for an extension or a full number,
    ("last7", value) for a 6-7 digit local number; None when it is not a number."""
    if re.search(r"[^\d\s()+\-.]", query):
        return None
    digits = only_digits(query)
    if not digits:
        return None
    if len(digits) <= EXTENSION_MAX_DIGITS:
        return ("digits", digits)
    if len(digits) <= 7:
        return ("last7", digits.rjust(7, "0")[-7:])
    phone = parse_phone(query, region)
    return ("digits", phone.digits) if phone else None
