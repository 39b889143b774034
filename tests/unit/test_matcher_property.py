"""Property: the compiled matcher agrees with a naive regex evaluator written independently here.

The reference knows nothing of tokens, stems or indexes: a term is a case-insensitive regular
expression with word boundaries and an optional plural or possessive ending, and the boolean
structure is evaluated directly on the generated tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.matching import Document, compile_watchlists

# Words whose plural is a plain "s", so the reference can spell the folding as a regex.
VOCAB = ["china", "yuan", "bank", "rate", "coin", "fed", "cut", "gold", "ico", "token"]
SEPARATORS = [" ", ", ", "-", ". ", " — ", "/", " (", ") ", ": "]


@dataclass(frozen=True)
class Leaf:
    words: tuple[str, ...]  # one word, or two for a phrase
    written: str  # as it appears in the query

    def pattern(self) -> re.Pattern[str]:
        body = r"[\W_]+".join(re.escape(word) + r"(?:s|['’]s)?" for word in self.words)
        return re.compile(r"(?<![^\W_])" + body + r"(?![^\W_])", re.IGNORECASE)


@dataclass(frozen=True)
class Negation:
    child: Query


@dataclass(frozen=True)
class Binary:
    operator: str  # "AND", "OR", or " " for adjacency
    left: Query
    right: Query


Query = Leaf | Negation | Binary


def text_word() -> st.SearchStrategy[str]:
    """A vocabulary word as an article might spell it, or a word that only contains one."""
    word = st.sampled_from(VOCAB)
    spelled = st.tuples(
        word,
        st.sampled_from([str.lower, str.upper, str.title]),
        st.sampled_from(["", "s", "'s", "’s"]),
    ).map(lambda t: t[1](t[0]) + t[2])
    distractor = st.tuples(
        st.sampled_from(["x", "re", ""]), word, st.sampled_from(["ing", "ly", ""])
    )
    contains = distractor.filter(lambda t: bool(t[0] or t[2])).map("".join)
    return st.one_of(spelled, contains)


def text() -> st.SearchStrategy[str]:
    pieces = st.lists(st.tuples(text_word(), st.sampled_from(SEPARATORS)), max_size=12)
    return pieces.map(lambda items: "".join(word + sep for word, sep in items))


def query_tree() -> st.SearchStrategy[Query]:
    case = st.sampled_from([str.lower, str.upper, str.title])
    term = st.tuples(st.sampled_from(VOCAB), case).map(lambda t: Leaf((t[0],), t[1](t[0])))
    phrase = st.tuples(st.sampled_from(VOCAB), st.sampled_from(VOCAB)).map(
        lambda t: Leaf(t, f'"{t[0]} {t[1]}"')
    )
    leaves: st.SearchStrategy[Query] = st.one_of(term, phrase)

    def extend(children: st.SearchStrategy[Query]) -> st.SearchStrategy[Query]:
        negation = st.builds(Negation, children)
        binary = st.builds(Binary, st.sampled_from(["AND", " ", "OR"]), children, children)
        return st.one_of(negation, binary)

    return st.recursive(leaves, extend, max_leaves=10)


def render(node: Query) -> str:
    if isinstance(node, Leaf):
        return node.written
    if isinstance(node, Negation):
        return f"NOT ({render(node.child)})"
    operator = " " if node.operator == " " else f" {node.operator} "
    return f"({render(node.left)}{operator}{render(node.right)})"


def reference(node: Query, doc: Document) -> bool:
    if isinstance(node, Leaf):
        pattern = node.pattern()
        return bool(pattern.search(doc.title) or pattern.search(doc.summary))
    if isinstance(node, Negation):
        return not reference(node.child, doc)
    left, right = reference(node.left, doc), reference(node.right, doc)
    return left or right if node.operator == "OR" else left and right


def leaves(node: Query) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Negation):
        return leaves(node.child)
    return leaves(node.left) + leaves(node.right)


@settings(max_examples=400, deadline=None)
@given(tree=query_tree(), title=text(), summary=text())
def test_matcher_equals_the_naive_reference(tree: Query, title: str, summary: str) -> None:
    doc = Document(title=title, summary=summary)
    hits = compile_watchlists([("w", render(tree))]).match(doc)
    assert bool(hits) is reference(tree, doc)
    if hits:
        # every reported term really occurs, is named as written, and is named once
        present = {leaf.written for leaf in leaves(tree) if reference(leaf, doc)}
        assert set(hits[0].terms) <= present
        assert len(set(hits[0].terms)) == len(hits[0].terms)


@settings(max_examples=200, deadline=None)
@given(trees=st.lists(query_tree(), min_size=1, max_size=8), title=text(), summary=text())
def test_many_watchlists_match_as_each_would_alone(
    trees: list[Query], title: str, summary: str
) -> None:
    doc = Document(title=title, summary=summary)
    together = compile_watchlists([(str(i), render(tree)) for i, tree in enumerate(trees)])
    expected = [str(i) for i, tree in enumerate(trees) if reference(tree, doc)]
    assert [hit.watchlist for hit in together.match(doc)] == expected
