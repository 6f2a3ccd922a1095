"""Full names in one normal form, for search and for merging the directory with the
phone book: case, ё/е, spaces, punctuation and word order do not matter."""

from __future__ import annotations

import re

_NOT_LETTERS = re.compile(r"[^\w]+")
_SEPARATORS = re.compile(r"[\s\-‐–—_.,;:'\"()]+")


def normal_word(word: str) -> str:
    """Lower case, ё as е, letters and digits only."""
    return _NOT_LETTERS.sub("", word.lower().replace("ё", "е"))


def name_words(full_name: str) -> list[str]:
    """The words of a name, normalized; a hyphenated surname gives its parts."""
    return [w for w in (normal_word(p) for p in _SEPARATORS.split(full_name)) if w]


def name_key(full_name: str) -> str:
    """One key per name whatever its word order: the sorted normalized words."""
    return " ".join(sorted(name_words(full_name)))
