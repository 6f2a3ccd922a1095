"""The ad-hoc forms' submissions as chat commands (bot/adhoc.py runs them through the
same core as typed ones): the command text a form's fields stand for, with the user's own
text quoted where the chat would read a word as a token, so a form's text stays text."""

from __future__ import annotations

import re
from datetime import date

from commands.errors import CommandError, UsageError
from commands.tokens import normalize, tokenize

_WORD = re.compile(r'("[^"\n]*")|\S+')  # a line's words, as commands/tokens.py splits them
_ANY_DAY = date(2000, 1, 1)


def _reads_as_token(word: str, after: str | None, leading: bool) -> bool:
    """Whether the tokenizer takes this unquoted word as a token (`#N @x !p ^d`, or a
    `from` before a customer), given the word after it and whether it comes first."""
    try:
        if tokenize(word, _ANY_DAY).words != [word]:
            return True
        if after is None:
            return False
        probe = f"{word} {after}" if leading else f"x {word} {after}"
        return tokenize(probe, _ANY_DAY).who is not None
    except UsageError:  # a bad !priority or ^date; a stray quote is the core's to refuse
        return '"' not in word


def protect(text: str, *, leading: bool) -> str:
    """The text with each word the tokenizer would read as a token quoted, so a form's
    text stays text: `call @w1` records "@w1", it does not route anywhere. `leading`:
    the text comes first in the command's arguments (`from` there names a customer)."""
    lines = [[(m[0], m[1] is not None) for m in _WORD.finditer(line)] for line in
             normalize(text).splitlines()]  # fmt: skip
    spots = [(n, i) for n, words in enumerate(lines) for i in range(len(words))]
    after: str | None = None
    for n, i in reversed(spots):
        word, quoted = lines[n][i]
        if not quoted and _reads_as_token(word, after, leading and (n, i) == spots[0]):
            word = f'"{word}"'
            lines[n][i] = (word, True)
        after = word
    return "\n".join(" ".join(word for word, _ in words) for words in lines)


def safe_text(text: str, *, leading: bool) -> str:
    """`protect`, checked: what cannot be made plain text (a token glued to a stray
    quote) is refused rather than run; an unclosed quote gets the chat's own answer."""
    protected = protect(text, leading=leading)
    tokens = tokenize(protected if leading else f"x {protected}", _ANY_DAY)
    if tokens.numbers or tokens.targets or tokens.priority or tokens.due or tokens.who:
        raise CommandError("adhoc.bad_text")
    return protected


def new_command(
    text: str, customer: int | None, *, target: str, priority: str, due: date | None
) -> str:
    """`new [from cN] @target !prio [^date] <text>`"""
    words = ["new", *([f"from c{customer}"] if customer is not None else [])]
    words += [f"@{target}", f"!{priority}", *([f"^{due.isoformat()}"] if due else [])]
    return " ".join([*words, safe_text(text, leading=False)])


def call_command(text: str, customer: int | None) -> str:
    """`call [from cN] <text>`"""
    if customer is None:
        return f"call {safe_text(text, leading=True)}"
    return f"call from c{customer} {safe_text(text, leading=False)}"


def who_command(customer: int | None) -> str:
    return f"who c{customer}"


def plan_command(text: str, *, person: str, priority: str) -> str:
    """Tomorrow's work for a person: `new @login !prio ^tomorrow <text>`."""
    return f"new @{person} !{priority} ^tomorrow {safe_text(text, leading=False)}"


def ticket_command(action: str, number: int, resolution: str = "") -> str:
    """`take #N`, `close #N [resolution]`"""
    if action == "close" and resolution.strip():
        return f"close #{number} {safe_text(resolution, leading=False)}"
    return f"{action} #{number}"
