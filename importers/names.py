"""Full names in one normal form, for search and for merging the directory with the
phone book: case, ё/е, spaces, punctuation and word order do not matter; and the
matching of a phone book's names against the directory's people (pure, no database)."""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from rapidfuzz.distance import OSA

_NOT_LETTERS = re.compile(r"[^\w]+")
_SEPARATORS = re.compile(r"[\s\-‐–—_.,;:'\"()]+")
_CYRILLIC = re.compile(r"[а-яё]")
_LETTER_RUNS = re.compile(r"[^\W\d_]+")
# Latin letters that look Cyrillic (in lower or upper case), typed by mistake inside
# Cyrillic words ("Ивaнов", "ИBAНОВ")
_HOMOGLYPHS = str.maketrans("aceopxykhbmt", "асеорхукнвмт")
_NOBODY: frozenset[int] = frozenset()
TYPO_MIN_LENGTH = 5
SMALL_BLOCK = 64  # people sharing a word, few enough to compare a row with all of them


def normal_word(word: str) -> str:
    """Lower case, ё as е, letters and digits only; Latin look-alikes inside a Cyrillic
    word become Cyrillic."""
    word = _NOT_LETTERS.sub("", word.lower().replace("ё", "е"))
    if _CYRILLIC.search(word):
        word = word.translate(_HOMOGLYPHS)
    return word


def name_words(full_name: str) -> list[str]:
    """The words of a name, normalized; a hyphenated surname gives its parts."""
    return [w for w in (normal_word(p) for p in _SEPARATORS.split(full_name)) if w]


def name_key(full_name: str) -> str:
    """One key per name whatever its word order: the sorted normalized words."""
    return " ".join(sorted(name_words(full_name)))


@dataclass(frozen=True)
class NameParts:
    """A name as written in a phone book: its whole words and, in order, its initials
    (`Иванов И.П.` and `И. П. Иванов` both give words ("иванов",), initials ("и", "п"))."""

    words: tuple[str, ...]
    initials: tuple[str, ...]


def name_parts(full_name: str) -> NameParts:
    """Whole words and initials; `ИП` beside a word in lower case is two initials."""
    raw = [p for p in _SEPARATORS.split(full_name) if normal_word(p)]
    mixed_case = any(not p.isupper() for p in raw)
    words: list[str] = []
    initials: list[str] = []
    for part in raw:
        word = normal_word(part)
        if len(word) == 1 or (mixed_case and len(word) <= 3 and part.isupper()):
            initials.extend(word)
        else:
            words.append(word)
    return NameParts(tuple(words), tuple(initials))


def is_typo(written: str, real: str) -> bool:
    """One slip of the keyboard in a long word: a letter wrong, missing, extra, or two
    swapped (`Ивонов` for `Иванов`). Short names differ by one letter too often to say
    (Анна/Инна, Олег/Олеся)."""
    if min(len(written), len(real)) < TYPO_MIN_LENGTH or written == real:
        return False
    return OSA.distance(written, real, score_cutoff=1) <= 1


def is_near(written: str, real: str) -> bool:
    """Close enough to ask a person (one edit, or two in a long word), not to decide."""
    if min(len(written), len(real)) < 3:
        return False
    allowed = 2 if min(len(written), len(real)) >= 7 else 1
    return OSA.distance(written, real, score_cutoff=allowed) <= allowed


def tidy_name(full_name: str) -> str:
    """A name fit to show: single spaces, no stray punctuation around it, words written
    all in capitals or all in lower case capitalized (`ИВАНОВ иван` → `Иванов Иван`)."""
    tokens = [t for t in (t.strip(",;:'\"()") for t in full_name.split()) if t.strip(".-")]
    tidy = []
    for token in tokens:
        short_capitals = token.isupper() and len("".join(_LETTER_RUNS.findall(token))) <= 3
        if (token.isupper() and not short_capitals) or token.islower():  # not `ИП`, `И.И.`
            token = _LETTER_RUNS.sub(lambda m: m.group().capitalize(), token)
        tidy.append(token)
    text = " ".join(tidy).strip("-").lstrip(".")
    runs = _LETTER_RUNS.findall(text)
    if text.endswith(".") and runs and len(runs[-1]) > 1:  # a dot after an initial stays
        text = text.rstrip(".")
    return text


# --- matching ---------------------------------------------------------------------------------
class Outcome(enum.StrEnum):
    MATCH = "match"  # exactly one directory person has this name
    AMBIGUOUS = "ambiguous"  # several fit: a person decides on the review list
    NONE = "none"  # nobody in the directory: the row is a customer of its own


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    candidates: tuple[int, ...] = ()  # the matched id, or the ids that fit
    how: str = ""  # name | initials | typo (and phone: a tie broken by the import)


class Directory:
    """The directory's people indexed for matching, so that a row is compared with a
    handful of them, never with all: by name key, by word, and by a word together with
    the first letter of another word of the same name (blocks for initials and typos)."""

    def __init__(self, people: Iterable[tuple[int, str]]) -> None:
        self.words: dict[int, tuple[str, ...]] = {}
        self.by_key: dict[str, set[int]] = defaultdict(set)
        self.by_word: dict[str, set[int]] = defaultdict(set)
        self.by_word_letter: dict[tuple[str, str], set[int]] = defaultdict(set)
        for person, full_name in people:
            words = tuple(name_words(full_name))
            self.words[person] = words
            self.by_key[" ".join(sorted(words))].add(person)
            for i, word in enumerate(words):
                self.by_word[word].add(person)
                for j, other in enumerate(words):
                    if i != j:
                        self.by_word_letter[word, other[0]].add(person)

    def match(self, full_name: str) -> Decision:
        parts = name_parts(full_name)
        fits = self._fits(full_name, parts)
        if fits:
            outcome = Outcome.MATCH if len(fits) == 1 else Outcome.AMBIGUOUS
            return Decision(outcome, tuple(sorted(fits)), "initials" if parts.initials else "name")
        sure, near = self._typos(parts)
        if len(near) == 1 and sure == near:
            return Decision(Outcome.MATCH, tuple(sure), "typo")
        if near:
            return Decision(Outcome.AMBIGUOUS, tuple(sorted(near)), "typo")
        return Decision(Outcome.NONE)

    def _with_all(self, words: Sequence[str], block: tuple[str, str] | None = None) -> set[int]:
        """The people whose names hold all these words (and the block's, if given)."""
        sets = [self.by_word.get(w, _NOBODY) for w in set(words)]
        if block is not None:
            sets.append(self.by_word_letter.get(block, _NOBODY))
        sets.sort(key=len)
        return set(sets[0]).intersection(*sets[1:]) if sets else set()

    def _fits(self, full_name: str, parts: NameParts) -> set[int]:
        """Everyone the name fits without a typo: the same words in any order, a part of
        the words ("Иван Иванов" of "Иванов Иван Петрович", or the reverse), or the
        words with initials of the rest ("Иванов И.П.")."""
        words, initials = parts.words, parts.initials
        found = set(self.by_key.get(name_key(full_name), _NOBODY))
        if initials and words:
            pool = self._with_all(words, (words[0], initials[0]))
            found |= {p for p in pool if self._initials_fit(p, words, initials)}
        elif len(words) >= 2:
            found |= self._with_all(words)
            for size in range(2, len(words)):
                for part in combinations(sorted(words), size):
                    found |= self.by_key.get(" ".join(part), _NOBODY)
        return found

    def _initials_fit(self, person: int, words: Sequence[str], initials: Sequence[str]) -> bool:
        rest = self._rest(person, words)
        return rest is not None and self._initials_fit_rest(rest, "", initials)

    def _rest(self, person: int, words: Iterable[str]) -> list[str] | None:
        """The person's words left when these are taken away; None if one is missing."""
        rest = list(self.words[person])
        for word in words:
            if word not in rest:
                return None
            rest.remove(word)
        return rest

    def _typos(self, parts: NameParts) -> tuple[set[int], set[int]]:
        """The people the name fits with one word misspelled: for sure (a slip in a long
        word, two other words exact: with one, "Дарья Васильева" would be taken for
        "Дарья Васильевна"), and near enough to ask."""
        words = parts.words
        sure: set[int] = set()
        near: set[int] = set()
        for i, written in enumerate(words):
            exact = words[:i] + words[i + 1 :]
            if not exact:
                continue
            few = len(exact) >= 2 or len(self.by_word.get(exact[0], ())) <= SMALL_BLOCK
            block = None if few else (exact[0], written[0])
            for person in self._with_all(exact, block):
                rest = self._rest(person, exact)
                real = [r for r in rest or () if is_near(written, r)]
                if not real or not self._initials_fit_rest(rest, real[0], parts.initials):
                    continue
                near.add(person)
                if len(exact) >= 2 and len(real) == 1 and is_typo(written, real[0]):
                    sure.add(person)
        return sure, near

    @staticmethod
    def _initials_fit_rest(rest: list[str] | None, used: str, initials: Sequence[str]) -> bool:
        """The initials are those of the words left (in order; a missing patronymic in
        the directory is no conflict), `used` aside; true when there are no initials."""
        left = [r for r in rest or () if r != used]
        if not initials:
            return True
        return bool(left) and all(r[0] == i for r, i in zip(left, initials, strict=False))


def match_rows(people: Iterable[tuple[int, str]], names: Iterable[str]) -> list[Decision]:
    """The decision for each name, against the directory's people as (id, full name).
    Pure and blocking: the import runs it in a thread."""
    directory = Directory(people)
    return [directory.match(name) for name in names]
