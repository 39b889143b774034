"""Phrases for the indexed matcher: one field at a time, word positions only where needed
(pure, no I/O).

`evaluate._TermEvaluator` (the naive matcher's) builds a `FieldView`, a dict of positions of
every word of a field, for each field it reads, then intersects position lists. Measured on
the real feeds with generated watchlists, that was the largest single cost per article at
1,000 watchlists (about 13 us a phrase that passes the screen). Here, per field in order:

1. screen: every word's key (`required.key_of`) must be among the field's keys
   (`DocumentAnalysis.field_keys`), a set test that rules out most fields and documents;
2. find the first word's positions in the field's stems (a scan in C for whole words), and
   check each following word at its offset, by kind: the stem equals it (word), the form or
   the stem starts with it (wildcard), or it is inside an unspaced form (substring): exactly
   the tests of `FieldView.positions`.

The result, the (label, field) reported and the field chosen, are those of
`_TermEvaluator.evaluate`, as the property tests check against the naive matcher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.evaluate import FIELD_ORDER, Found
from consumers.matching.query import Term, Word
from consumers.matching.required import term_keys
from consumers.matching.text import is_unspaced

# Whether word i of a field (its form and its stem) is this term word.
_Test = Callable[[Sequence[str], Sequence[str], int], bool]


def compile_phrase(term: Term) -> Callable[[DocumentAnalysis, Found], bool]:
    """An explainer for a term of several words (see the module docstring)."""
    keys = term_keys(term)
    fields = tuple(field for field in FIELD_ORDER if field in term.fields)
    first, length, case, label = term.words[0], len(term.words), term.case_sensitive, term.label
    if all(word.kind == "word" for word in term.words):
        return _plain(term, keys, fields)
    following = tuple((offset, _test(word)) for offset, word in enumerate(term.words) if offset)

    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        if not keys <= doc.keys:  # one test rules out most documents for every field
            return False
        for field in fields:
            if not keys <= doc.field_keys[field]:
                continue
            forms, stems = doc.forms(field, case), doc.stems(field, case)
            for start in _starts(first, forms, stems, len(stems) - length):
                if all(test(forms, stems, start + offset) for offset, test in following):
                    found.append((label, field))
                    return True
        return False

    return explain


def _plain(
    term: Term, keys: frozenset[str], fields: tuple[str, ...]
) -> Callable[[DocumentAnalysis, Found], bool]:
    """A phrase of plain words (most are): each start of the first word's stem, found by
    scans in C, is followed by the other stems exactly when a slice of the field's stems
    equals them (one comparison in C, not a test per word). Measured on the real feeds with
    bench/match.py's 100,000 selective watchlists, timing each call: 3.0 -> 2.2 us a phrase
    explained, 29 of them an article."""
    first, *rest = (word.text for word in term.words)
    length, case, label = len(term.words), term.case_sensitive, term.label

    def explain(doc: DocumentAnalysis, found: Found) -> bool:
        if not keys <= doc.keys:
            return False
        for field in fields:
            if not keys <= doc.field_keys[field]:
                continue
            stems, start = doc.stems(field, case), -1
            for _ in range(stems.count(first)):
                start = stems.index(first, start + 1)
                if stems[start + 1 : start + length] == rest:
                    found.append((label, field))
                    return True
        return False

    return explain


def _starts(word: Word, forms: Sequence[str], stems: Sequence[str], last: int) -> Iterator[int]:
    """Positions up to `last` where `word` occurs, in order."""
    if word.kind == "word":
        # list.index scans in C; a field holds a word a few times at most.
        text, start = word.text, 0
        for _ in range(stems[: last + 1].count(text)):
            start = stems.index(text, start)
            yield start
            start += 1
        return
    test = _test(word)
    for position in range(last + 1):
        if test(forms, stems, position):
            yield position


def _test(word: Word) -> _Test:
    text = word.text
    if word.kind == "word":
        return lambda forms, stems, i: stems[i] == text
    if word.kind == "prefix":
        return lambda forms, stems, i: forms[i].startswith(text) or stems[i].startswith(text)
    return lambda forms, stems, i: text in forms[i] and is_unspaced(forms[i])
