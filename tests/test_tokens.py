"""The tokenizer: `#N @target !prio ^due from <who>` anywhere in a message (commands.md)."""

from __future__ import annotations

from datetime import date

import pytest

from commands.errors import UsageError
from commands.tokens import (
    Tokens,
    normalize,
    parse_due,
    split_command,
    split_words,
    tokenize,
)

TODAY = date(2026, 11, 25)  # a Wednesday


def tok(text: str) -> Tokens:
    """The arguments of a message `new <text>`, as the core tokenizes them."""
    word, rest = split_command(f"new {text}")
    assert word == "new"
    return tokenize(rest, TODAY)


def usage_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        tok(text)
    return caught.value


# --- tokens anywhere ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "printer jams #12 @IT !high ^tomorrow from 4521",
        "#12 @it printer !high jams from 4521 ^tomorrow",
        "from 4521 ^tomorrow !high @it #12 printer jams",
        "printer @it from 4521 jams !3 #12 ^завтра",
    ],
)
def test_tokens_stand_anywhere_and_the_rest_is_text(text: str) -> None:
    tokens = tok(text)
    assert tokens.numbers == [12]
    assert tokens.targets == ["it"]
    assert tokens.priority == 3
    assert tokens.due == date(2026, 11, 26)
    assert tokens.who == "4521"
    assert tokens.text == "printer jams"


def test_several_numbers_and_targets_are_all_kept_in_order() -> None:
    tokens = tok("#3 #17 @W1 @hr")
    assert tokens.numbers == [3, 17]
    assert tokens.targets == ["w1", "hr"]
    assert tokens.text == ""


@pytest.mark.parametrize("word", ["#", "#abc", "#1a", "@", "!", "^", "a#1", "mail@host"])
def test_lookalikes_stay_text(word: str) -> None:
    tokens = tok(f"x {word} y")
    assert tokens.words == ["x", word, "y"]
    assert (tokens.numbers, tokens.targets, tokens.priority, tokens.due) == ([], [], None, None)


# --- priority -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "level"),
    [
        ("!1", 1),
        ("!2", 2),
        ("!3", 3),
        ("!4", 4),
        ("!low", 1),
        ("!normal", 2),
        ("!high", 3),
        ("!urgent", 4),
        ("!URGENT", 4),
        ("!низкий", 1),
        ("!обычный", 2),
        ("!высокий", 3),
        ("!срочно", 4),
        ("!срочный", 4),
        ("!СРОЧНО", 4),
    ],
)
def test_priority_numbers_names_and_russian_words(token: str, level: int) -> None:
    assert tok(f"fix it {token}").priority == level


@pytest.mark.parametrize("token", ["!0", "!5", "!asap", "!hi", "!срочнее"])
def test_bad_priority_is_a_usage_error_naming_it(token: str) -> None:
    error = usage_error(f"fix it {token}")
    assert error.key == "bad_priority"
    assert error.params == {"value": token}


# --- due dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "due"),
    [
        ("today", TODAY),
        ("TODAY", TODAY),
        ("сегодня", TODAY),
        ("tomorrow", date(2026, 11, 26)),
        ("завтра", date(2026, 11, 26)),
        # a weekday is the next one, never today: today is a Wednesday
        ("wed", date(2026, 12, 2)),
        ("thu", date(2026, 11, 26)),
        ("friday", date(2026, 11, 27)),
        ("mon", date(2026, 11, 30)),
        ("tue", date(2026, 12, 1)),
        ("sun", date(2026, 11, 29)),
        ("пн", date(2026, 11, 30)),
        ("ср", date(2026, 12, 2)),
        ("пт", date(2026, 11, 27)),
        # day.month: this year, or the next when already past
        ("27.11", date(2026, 11, 27)),
        ("25.11", TODAY),
        ("24.11", date(2027, 11, 24)),
        ("1.1", date(2027, 1, 1)),
        ("31.12", date(2026, 12, 31)),
        ("27.11.2027", date(2027, 11, 27)),
        # ISO: as written, even in the past
        ("2026-11-27", date(2026, 11, 27)),
        ("2025-01-05", date(2025, 1, 5)),
    ],
)
def test_due_dates(value: str, due: date) -> None:
    assert parse_due(value, TODAY) == due
    assert tok(f"x ^{value}").due == due


@pytest.mark.parametrize(
    "value", ["32.11", "31.02", "27.13", "2026-13-01", "2026-02-30", "27/11", "yesterday", "x"]
)
def test_bad_due_is_a_usage_error_naming_it(value: str) -> None:
    error = usage_error(f"x ^{value}")
    assert error.key == "bad_due"
    assert error.params == {"value": value}


def test_29_february_past_in_a_leap_year_does_not_roll_into_a_year_without_it() -> None:
    with pytest.raises(UsageError):
        parse_due("29.02", date(2028, 3, 1))
    assert parse_due("29.02", date(2028, 1, 10)) == date(2028, 2, 29)


# --- from <who> ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("printer from 4521", "4521"),
        ("FROM c123 printer", "c123"),
        ("от ivanov printer", "ivanov"),
        ("printer от 84951234567", "84951234567"),
        ("printer от +7(495)123-45-67", "+7(495)123-45-67"),
        ('printer from "Иванов Иван" jams', "Иванов Иван"),
        # phone autocorrect turns quotes typographic: still one token
        ("printer from “Иванов Иван” jams", "Иванов Иван"),
        ("printer from «Иванов Иван» jams", "Иванов Иван"),
        ("printer from „Иванов Иван“ jams", "Иванов Иван"),
    ],
)
def test_from_takes_one_token_or_a_quoted_name(text: str, who: str) -> None:
    tokens = tok(text)
    assert tokens.who == who
    assert "Иванов" not in tokens.text
    assert "from" not in tokens.text.lower()


def test_from_as_the_last_word_is_text() -> None:
    tokens = tok("call came from")
    assert tokens.who is None
    assert tokens.text == "call came from"


# --- quotes and normalization ---------------------------------------------------------------


@pytest.mark.parametrize("text", ['from "Иванов Иван', "from “Иванов Иван", 'a " b'])
def test_an_unclosed_quote_is_a_usage_error(text: str) -> None:
    assert usage_error(text).key == "bad_quote"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("can't print O'Brien's file", ["can't", "print", "O'Brien's", "file"]),
        ("can’t print O’Brien’s file", ["can't", "print", "O'Brien's", "file"]),
        ("it's 'quoted' here", ["it's", "'quoted'", "here"]),
    ],
)
def test_apostrophes_stay_text(text: str, words: list[str]) -> None:
    assert tok(text).words == words


def test_a_quoted_phrase_is_one_word() -> None:
    assert split_words('a "b c" d') == ["a", "b c", "d"]
    assert split_words('""') == [""]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a — b – c − d ‐ e", "a - b - c - d - e"),
        ("a\u00a0b\u202fc\u2009d", "a b c d"),
        ("“x” «y» „z“ ‟w”", '"x" "y" "z" "w"'),
        ("‘x’ ‚y‛", "'x' 'y'"),
        ("№5", "#5"),
        ("  padded  ", "padded"),
    ],
)
def test_normalize_undoes_phone_autocorrect(raw: str, clean: str) -> None:
    assert normalize(raw) == clean


def test_numero_sign_is_a_ticket_number() -> None:
    assert tok("№7 printer").numbers == [7]


def test_nbsp_separates_tokens() -> None:
    assert split_command("take\u00a0#3\u00a0!high") == ("take", "#3 !high")
    tokens = tok("x\u00a0#3\u00a0!high")
    assert (tokens.numbers, tokens.priority, tokens.text) == ([3], 3, "x")


# --- the command word -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word", "rest"),
    [
        ("new printer jams", "new", "printer jams"),
        ("/new printer jams", "new", "printer jams"),
        ("!take #3", "take", "#3"),
        ("NEW Printer", "new", "Printer"),
        ("  show   #3  ", "show", "#3"),
        ("Взять #3", "взять", "#3"),
        ("new\nprinter jams\nfloor 3", "new", "printer jams\nfloor 3"),
        ("close\t#3", "close", "#3"),
        ("help", "help", ""),
        ("", "", ""),
        ("   ", "", ""),
    ],
)
def test_split_command_drops_a_leading_slash_or_bang(text: str, word: str, rest: str) -> None:
    assert split_command(text) == (word, rest)


def test_a_multiline_message_is_tokenized_across_lines() -> None:
    tokens = tok("printer jams\n@it !high")
    assert (tokens.text, tokens.targets, tokens.priority) == ("printer jams", ["it"], 3)


# --- prose is not mistaken for tokens ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "new key from room 214 is lost",
        "потерян ключ от кабинета 214",
        "printer from accounting jams",
    ],
)
def test_from_in_the_middle_of_prose_stays_text(text: str) -> None:
    tokens = tok(text)
    assert tokens.who is None
    assert tokens.text == text


def test_quoted_phrases_are_text_even_when_they_look_like_tokens() -> None:
    tokens = tok('say "@it !high ^today #3" to them')
    assert (tokens.targets, tokens.priority, tokens.due, tokens.numbers) == ([], None, None, [])
    assert tokens.text == 'say "@it !high ^today #3" to them'


def test_exclamations_and_punctuated_numbers() -> None:
    assert tok("it is broken !!!").text == "it is broken !!!"
    assert tok("#12, please").numbers == [12]
    assert tok("#12: done").numbers == [12]


def test_line_breaks_are_kept_in_the_text() -> None:
    tokens = tok("first line @it\nsecond line !high\n\nthird")
    assert tokens.text == "first line\nsecond line\nthird"
    assert (tokens.targets, tokens.priority) == (["it"], 3)


@pytest.mark.parametrize(
    ("word", "weekday"),
    [("пятница", 4), ("пятницу", 4), ("понедельник", 0), ("friday", 4), ("вс", 6)],
)
def test_full_weekday_names(word: str, weekday: int) -> None:
    due = parse_due(word, date(2026, 11, 25))
    assert due.weekday() == weekday and due > date(2026, 11, 25)


@pytest.mark.parametrize("word", ["sunny", "вторникк", "fr"])
def test_words_that_only_start_like_a_weekday_are_refused(word: str) -> None:
    with pytest.raises(UsageError):
        parse_due(word, date(2026, 11, 25))
