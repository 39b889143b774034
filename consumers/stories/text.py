"""Headline and summary text to the features story grouping compares.

Generic rules only: Unicode words, casefolded, a short English stop list, plural `s` and
possessive `'s` dropped. Names (an acronym, or a word capitalised inside a sentence of the
summary) weigh more, because two reports of one event share who and what, while reports of one
topic share only the topic's common words.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")

_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each even few for
    from further get gets had has have having he her here hers him his how i if in into is it
    its itself just last like may me might more most much my new news no nor not now of off on
    once only or other our out over own per report reports said same says she should since so
    some still such than that the their them then there these they this those through to too
    under until up upon us very via was we were what when where which while who whom why will
    with would yet you your today week year years day days amid here's what's
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

# How much more a name counts than an ordinary word, and a title word than a summary word.
NAME_WEIGHT = 2.0
SUMMARY_WEIGHT = 0.5
# Only the start of a summary describes the event; the rest is background every story repeats.
SUMMARY_WORDS = 40


def fold(text: str) -> str:
    """NFKC and casefold: `Ｔether` and `tether` are one word."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """The words of `text` in order, as written (not folded)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def term(word: str) -> str:
    """A word's comparable form: folded, possessive and plural `s` dropped."""
    folded = _POSSESSIVE.sub("", fold(word)).replace("’", "'")
    if len(folded) > 3 and folded.endswith("s") and not folded.endswith(("ss", "us", "is")):
        return folded[:-1]
    return folded


def terms(text: str) -> list[str]:
    """The content terms of `text` in order: stop words dropped."""
    out = []
    for word in words(text):
        if fold(word) in STOP_WORDS:
            continue
        t = term(word)
        if t and t not in STOP_WORDS:
            out.append(t)
    return out


def normal_title(title: str) -> str:
    """The title as its content terms joined by spaces: punctuation and case do not count."""
    return " ".join(terms(title))


def _names(summary: str, title: str) -> set[str]:
    """Terms that look like names: acronyms anywhere, capitalised words inside summary text."""
    names = set()
    for text, sentence_case in ((title, False), (summary, True)):
        previous = "."
        for match in re.finditer(r"\S+", unicodedata.normalize("NFKC", text)):
            token = match.group()
            for word in _WORD.findall(token):
                upper = sum(c.isupper() for c in word)
                is_acronym = upper >= 2 and upper >= len(word) - 1
                starts_sentence = previous.endswith((".", "!", "?", ":", "—"))
                if is_acronym or (sentence_case and word[:1].isupper() and not starts_sentence):
                    names.add(term(word))
            previous = token
    return names - STOP_WORDS


def weighted_terms(title: str, summary: str) -> dict[str, float]:
    """Term -> weight for one article: title terms 1, summary terms less, names more."""
    names = _names(" ".join(summary.split()[:SUMMARY_WORDS]), title)
    weights: dict[str, float] = {}
    summary_terms = terms(" ".join(summary.split()[:SUMMARY_WORDS]))
    for terms_, weight in ((terms(title), 1.0), (summary_terms, SUMMARY_WEIGHT)):
        for t in terms_:
            w = weight * (NAME_WEIGHT if t in names else 1.0)
            weights[t] = max(weights.get(t, 0.0), w)
    return weights


def shingles(title: str, size: int = 2) -> frozenset[str]:
    """The title's word shingles (content terms, `size` in a row); single terms if shorter."""
    ts = terms(title)
    if len(ts) < size:
        return frozenset(ts)
    return frozenset(" ".join(ts[i : i + size]) for i in range(len(ts) - size + 1))
