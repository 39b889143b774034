"""Words, folding and the light stemmer shared by query terms and article text."""

from __future__ import annotations

import pytest

from consumers.matching.text import fold, is_unspaced, stem, tokenise


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The Fed cut rates.", ["The", "Fed", "cut", "rates"]),
        ("China's yuan", ["China", "yuan"]),
        ("China’s yuan", ["China", "yuan"]),
        ("investors' money", ["investors", "money"]),
        ("O'Brien's view", ["O", "Brien", "view"]),
        ("Hong-Kong", ["Hong", "Kong"]),
        ("U.S. rate-cut, 3.5%", ["U", "S", "rate", "cut", "3", "5"]),
        ("snake_case", ["snake", "case"]),
        ("ＣＨＩＮＡ ﬁnance", ["CHINA", "finance"]),
        ("中国人民银行宣布", ["中国人民银行宣布"]),
        ("iPhone手机销量", ["iPhone", "手机销量"]),
        ("日本銀行が利上げ", ["日本銀行が利上げ"]),
        ("중국은 발표했다", ["중국은", "발표했다"]),
        ("ที่ดิน ราคา", ["ที่ดิน", "ราคา"]),
        ("हिन्दी समाचार", ["हिन्दी", "समाचार"]),
        ("東京・大阪", ["東京", "大阪"]),
        ("", []),
        ("— !!! —", []),
    ],
)
def test_tokenise_splits_words_like_a_reader_would(text: str, words: list[str]) -> None:
    assert tokenise(text) == words


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("ICOs", "ICO"),
        ("icos", "ico"),
        ("cuts", "cut"),
        ("rates", "rate"),
        ("cases", "case"),
        ("sizes", "size"),
        ("companies", "company"),
        ("COMPANIES", "COMPANY"),
        ("classes", "class"),
        ("buzzes", "buzz"),
        ("taxes", "tax"),
        ("churches", "church"),
        ("crashes", "crash"),
        ("banks", "bank"),
        ("1990s", "1990"),
    ],
)
def test_plurals_fold_to_the_singular(plural: str, singular: str) -> None:
    assert stem(plural) == stem(singular) == singular


@pytest.mark.parametrize(
    "word",
    ["us", "US", "gas", "bus", "boss", "status", "crisis", "news", "series", "species", "ties"],
)
def test_words_that_only_look_plural_are_left_alone(word: str) -> None:
    assert stem(word) == word


@pytest.mark.parametrize(
    ("word", "folded"),
    [("CHINA", "china"), ("Été", "ete"), ("São", "sao"), ("Straße", "strasse"), ("中国", "中国")],
)
def test_fold_ignores_case_and_accents(word: str, folded: str) -> None:
    assert fold(word) == folded


@pytest.mark.parametrize(
    ("word", "unspaced"),
    [
        ("中国", True),
        ("ひらがな", True),
        ("カタカナ", True),
        ("한국", True),
        ("ไทย", True),
        ("China", False),
        ("Россия", False),
        ("हिन्दी", False),
        ("123", False),
    ],
)
def test_scripts_without_spaces_are_recognised(word: str, unspaced: bool) -> None:
    assert is_unspaced(word) is unspaced
