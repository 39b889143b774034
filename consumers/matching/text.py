"""Words, folding and stemming, applied identically to query terms and to article text.

Both sides go through the same functions, so a query term matches a word of the text exactly
when their normalised forms are equal; the rules only need to be consistent, not linguistic.

Words
    The text is NFKC-normalised (full-width letters, ligatures), then split into words: runs
    of letters, digits and combining marks. Everything else separates words, hyphens included,
    so "Hong-Kong" is the two words "Hong" "Kong". An apostrophe (' or ’) inside a word splits
    it as well, once a possessive ending has been removed (below).
    Characters of scripts written without spaces between words (Han, Hiragana, Katakana,
    Hangul, Thai, Lao, Khmer, Myanmar) form their own *unspaced* words, split off from any
    adjacent Latin letters; query terms match those as substrings ("中国" in "中国人民银行").

Input
    Plain text: the poller has already stripped tags and decoded HTML entities, so the
    matcher sees "AT&T", never "AT&amp;T" (which it would read as the words AT, amp, T).

Folding, for case-insensitive terms (everything except backquoted terms)
    casefold, then strip Latin combining accents: "Été" and "ete" fold alike. Precisely: the
    word is casefolded ("Straße" → "strasse"), decomposed (NFD), stripped of the combining
    marks U+0300 to U+036F, and recomposed (NFC). Letters that do not decompose keep their
    identity ("ø", "ł", "æ" match only themselves); marks of other scripts (Devanagari
    vowel signs, Thai tone marks) are kept. Backquoted terms compare the NFKC text as it is.

Limits (enforced by the parser, see `syntax` and `parse`): at most 50 terms and 2,000
characters per query, parentheses 20 deep, at least 2 characters before a wildcard's *,
NEAR/1 to NEAR/50.

Light stemmer
    1. possessive: a trailing 's, ’s or bare apostrophe is removed (China's → China,
       investors' → investors); done while splitting words, before apostrophes split them.
    2. "ies" → "y" when the word is longer than 4 characters (companies → company; ties stays).
    3. "es" is dropped after ss, zz, x, ch and sh (classes → class, taxes → tax).
    4. a final "s" is dropped when the word is longer than 3 characters and does not end in
       ss, us or is (ICOs → ICO, cuts → cut, rates → rate, cases → case; us, gas, boss,
       status and crisis stay as they are).
    "news", "series" and "species" are left alone. Suffixes are recognised in either case, so
    the same rules serve backquoted terms ("ICOs" → "ICO").
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_APOSTROPHES = "'\u2019"
# Scripts written without spaces between words; each run is one "unspaced" word.
_UNSPACED_CLASS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3005-\u3007"  # 々 〆 〇
    "\u3040-\u309f"  # Hiragana
    "\u30a1-\u30fa\u30fc-\u30ff"  # Katakana (without the ・ middle dot and ゠)
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua960-\ua97f"  # Hangul Jamo extended A
    "\uac00-\ud7ff"  # Hangul syllables, Jamo extended B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B to G
)
_UNSPACED = re.compile(f"[{_UNSPACED_CLASS}]")
_SCRIPT_RUNS = re.compile(f"[{_UNSPACED_CLASS}]+|[^{_UNSPACED_CLASS}]+")
_SPLIT_APOSTROPHES = re.compile(f"[{_APOSTROPHES}]+")
_LATIN_ACCENTS = re.compile("[\u0300-\u036f]")
_NOT_PLURALS = frozenset({"news", "series", "species"})


@functools.cache
def _mark_ranges() -> tuple[tuple[int, int], ...]:
    """Code point ranges of every combining mark (Unicode category M). Built on first use: it
    scans Unicode once."""
    ranges = []
    start = -1
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if start < 0:
                start = code
        elif start >= 0:
            ranges.append((start, code - 1))
            start = -1
    return tuple(ranges)


def _char_class(ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
    return "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges)


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Words: letters and digits with the combining marks inside them (Thai vowels, Devanagari
    matras), which Python's \\w does not include."""
    piece = rf"[^\W_]+(?:[{_char_class(_mark_ranges())}]+[^\W_]*)*"
    return re.compile(f"{piece}(?:[{_APOSTROPHES}]{piece})*[{_APOSTROPHES}]?")


@functools.cache
def _bmp_marks() -> re.Pattern[str]:
    """Marks of the Basic Multilingual Plane. Restricted to it, re tests a class with a bitmap
    per character; with the astral ranges it walks hundreds of ranges (bench/RESULTS.md)."""
    bmp = [(low, min(high, 0xFFFF)) for low, high in _mark_ranges() if low <= 0xFFFF]
    return re.compile(f"[{_char_class(bmp)}]")


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# `_word_pattern` for text without combining marks: its mark groups can never match there, so
# the two patterns find the same words; this one does it faster (bench/RESULTS.md).
_UNMARKED_WORD = re.compile(rf"[^\W_]+(?:[{_APOSTROPHES}][^\W_]+)*[{_APOSTROPHES}]?")


def _may_hold_marks(text: str) -> bool:
    """False only when `text` has no combining mark (astral text is not inspected)."""
    return _ASTRAL.search(text) is not None or _bmp_marks().search(text) is not None


def normalise(text: str) -> str:
    """NFKC, so full-width forms and ligatures compare equal to their plain letters."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def fold(word: str) -> str:
    """Case- and accent-insensitive form of one word (already NFKC)."""
    if word.isascii():
        return word.lower()
    stripped = _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", word.casefold()))
    return unicodedata.normalize("NFC", stripped)


def stem(word: str) -> str:
    """Fold plural forms (see the module docstring); possessives are handled by `tokenise`."""
    n = len(word)
    if n <= 3 or word[-1] not in "sS":
        return word
    if word.lower() in _NOT_PLURALS:
        return word
    tail = word[-4:].lower()
    if tail[-3:] == "ies":
        if n <= 4:
            return word
        return word[:-3] + ("Y" if word[-3] == "I" else "y")
    if tail in ("sses", "zzes", "ches", "shes") or tail[-3:] == "xes":
        return word[:-2]
    if tail[-2:] in ("ss", "us", "is"):
        return word
    return word[:-1]


def is_unspaced(word: str) -> bool:
    """True for a word of a script written without spaces (matched as a substring)."""
    return not word.isascii() and _UNSPACED.match(word) is not None


def tokenise(text: str) -> list[str]:
    """Split text into words (NFKC, possessives removed, not folded), in order."""
    words: list[str] = []
    for match in _word_pattern().finditer(normalise(text)):
        word = match.group()
        if word.isascii() or _UNSPACED.search(word) is None:
            _add_words(word, words)
            continue
        for run in _SCRIPT_RUNS.findall(word):
            if _UNSPACED.match(run):
                words.append(run)
            else:
                _add_words(run, words)
    return words


def _add_words(word: str, words: list[str]) -> None:
    if "'" not in word and "\u2019" not in word:
        words.append(word)
        return
    if len(word) > 1 and word[-2] in _APOSTROPHES and word[-1] in "sS":
        word = word[:-2]
    elif word[-1] in _APOSTROPHES:
        word = word[:-1]
    words.extend(part for part in _SPLIT_APOSTROPHES.split(word) if part)


# Words of text without combining marks or unspaced scripts, possessives and apostrophes
# handled in the pattern itself: every maximal run of letters and digits is a word, except an
# "s" run standing where `tokenise` removes a possessive ending (right after an apostrophe that
# follows a letter or digit, and not followed by another apostrophe). The test comes after the
# run, as a look-behind over its last three characters (only a one-letter run can fail it), so
# the pattern starts with a plain class and re skips between words in C, faster than testing
# at every position before the run (bench/RESULTS.md).
def _words_pattern(alnum: str) -> re.Pattern[str]:
    return re.compile(f"{alnum}+(?:(?<!{alnum}[{_APOSTROPHES}][sS])|(?=[{_APOSTROPHES}]))")


_PLAIN_WORD = _words_pattern(r"[^\W_]")
# Text of Latin-1 letters and common typographic punctuation (ASCII and European news, nearly
# all of it) is split without the regex engine: every byte that is not a letter or digit
# becomes a space (`bytes.translate`, a table lookup per byte), then `str.split`. That is
# about twice as fast as a `findall` over the same text (bench/RESULTS.md). Possessive endings
# are removed first, by a pattern that starts with the apostrophe, so re skips to each one.
_LATIN_ALNUM = "".join(
    re.escape(chr(code)) for code in range(256) if re.match(r"[^\W_]", chr(code))
)
_LATIN_SPACED = bytes(code if re.match(r"[^\W_]", chr(code)) else 32 for code in range(256))
# The "s" run that `tokenise` drops: after an apostrophe that follows a letter or digit, and
# followed by neither a letter, a digit nor another apostrophe.
_POSSESSIVE = re.compile(
    f"[{_APOSTROPHES}][sS](?<=[{_LATIN_ALNUM}][{_APOSTROPHES}][sS])(?![{_LATIN_ALNUM}{_APOSTROPHES}])"
)
# Punctuation beyond Latin-1 that is neither a letter, a digit, a mark nor unspaced.
_TYPOGRAPHIC = "\u2010-\u2015\u2018-\u201f\u2020-\u2027\u2030-\u203a\u20ac"
_NOT_LATIN = re.compile(f"[^\x00-\xff{_APOSTROPHES}{_TYPOGRAPHIC}]")


def _latin_words(text: str) -> list[str]:
    """The words of NFKC text of Latin-1 letters and `_TYPOGRAPHIC` punctuation only. Any
    character beyond Latin-1 is punctuation there, so the encoder's "?" for it is a space."""
    if "'" in text or "\u2019" in text:
        text = _POSSESSIVE.sub(" ", text)
    return text.encode("latin-1", "replace").translate(_LATIN_SPACED).decode("latin-1").split()


def tokenise_fast(text: str) -> list[str]:
    """Exactly `tokenise(text)` (the property tests compare them), without the regex engine
    for ASCII and Latin-1 text (`_latin_words`), as nearly all news text is, and in one
    `findall` for other text with no combining mark and no unspaced script.

    Otherwise one `findall` does the splitting and only words holding an apostrophe or an
    unspaced script go through the per-word rules.
    """
    if text.isascii():
        return _latin_words(text)
    if "\u2026" in text:  # NFKC would turn the ellipsis, common in summaries, into "..."
        text = text.replace("\u2026", "...")
    if not unicodedata.is_normalized("NFKC", text):  # checking is cheaper than normalising
        text = unicodedata.normalize("NFKC", text)
    if _NOT_LATIN.search(text) is None:  # no mark or unspaced script can be there
        return _latin_words(text)
    unspaced = _UNSPACED.search(text) is not None
    marked = _may_hold_marks(text)
    if not unspaced and not marked:
        return _PLAIN_WORD.findall(text)
    pattern = _word_pattern() if marked else _UNMARKED_WORD
    words: list[str] = pattern.findall(text)
    if unspaced:
        out: list[str] = []
        for word in words:
            if word.isascii() or _UNSPACED.search(word) is None:
                _add_words(word, out)
                continue
            for run in _SCRIPT_RUNS.findall(word):
                if _UNSPACED.match(run):
                    out.append(run)
                else:
                    _add_words(run, out)
        return out
    if "'" in text or "\u2019" in text:
        return _split_apostrophes(words)
    return words


def _split_apostrophes(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if "'" in word or "\u2019" in word:
            _add_words(word, out)
        else:
            out.append(word)
    return out
