"""The indexed matcher: evaluate only the queries a document could match (pure, no I/O).

Like Lucene Monitor and the Elasticsearch percolator, each compiled query is filed under the
keys one of which any matching document must contain (`required`): its cheapest clause.
Queries with no such clause (`NOT foo`) are evaluated for every document.

A query that is an OR is filed as its children, its *parts*, each under its own clause: the
OR reports the terms of each true child in written order, so joining the Hits of the parts
that match, in that order, gives exactly the OR's Hit. Most children of real ORs are one-word
terms, which then never run an explainer (step 2). Measured with bench/match.py, three runs
each, against filing the whole OR and explaining it (its explainer ran about 460 times an
article): at 100,000 watchlists 366-375 -> 742-861 articles/s selective, 280-284 -> 551-719
broad; at 1,000 the same within noise (about 35k broad, 40k selective); peak memory 368 ->
372 MB at 100,000 (a Hit built at compile time per term of an OR and field).

A part is filed under sets of at most two keys, one of which (both keys of it) every
matching document holds (`required.alternatives`), and selected only when the document holds
a whole set: a phrase, NEAR or `a b` under its two rarest words; an OR under the sets of its
children, so `(yuan OR "rate cut") NOT x` under yuan and under rate and cut; an AND of two
OR groups under each pair of a word of one and a word of the other. Filed under one key,
about 400 of the 475 parts explained an article failed (selective, 100,000 watchlists), most
for lack of a second word; two keys for phrases, NEAR and ANDs of words took that to 966-973
articles/s selective, 731-750 broad. Filing ORs with a phrase and ANDs of OR groups under
pairs too took the parts explained an article from 187 to 98 selective, 231 to 143 broad,
every one that matches still among them (80 and 122); peak memory 378 -> 366 MB. Per
document:

1. analyse: split each field some query reads once, and read the field's index keys off its
   words with a memoised `keys.KeyFinder` (one dict lookup per word, in C);
2. accept: a one-word part (a fifth of real watchlists are one-word terms) matches exactly
   when its key is in one of its fields, and reports the first such field; its Hit for each
   field is built at compile time and filed under its key per field, so the document's key
   sets pick the Hits out with set operations in C, and the part is never evaluated;
3. explain: every other part filed under a key (or two keys) the document holds runs its
   explainer (`explain`), which answers and lists the terms and fields that made it match in
   one go (an AND first screens the other clauses it needs: set tests in C). Answering with a
   cheaper decider first (`decide`) and explaining only the matches was measured slower:
   most candidates of real articles match, and then both ran;
4. Hits are cached per part and explanation, as the same few explanations recur; the Hits of
   the parts of one OR that match are joined. The cache holds one Hit per explained part or
   50,000, the more: at 100,000 watchlists the real feeds' 1,169 articles need 55,000, and
   a cache of 50,000 started over every pass, building most Hits again.

Filing under pairs as above, `phrase._plain`, `explain._words` and the cache limit together,
measured with bench/match.py on the same (shared) machine, five runs of a18ca21 against
four: at 100,000 watchlists 860-1109 -> 1485-1702 articles/s selective, 716-827 -> 978-1225
broad (first pass, the cache cold: 849-1081 -> 1242-1425 and 670-825 -> 890-1060); at 1,000
the same within noise (37-41k broad, 38-49k selective); compile 3.6 -> 4.3 s; peak memory
378 -> 372 MB.

The result is exactly the naive matcher's (`naive.NaiveMatcher`: every query's evaluator on a
document tokenised by the reference functions), as the property tests check.

Cost per document: a fixed part (splitting the text, looking its words up), plus a small one
per candidate and per match. Measured with bench/match.py on one core at 1,000 watchlists,
about 25 us an article: splitting title and summary about 7 (the regex engine's speed, about
15 ns a character, most of it), key lookups about 6 (hashing each new word string, and one
dict lookup per word), explaining candidates about 7, the rest picking accepted Hits,
candidates, sorting and joining. Trimmed since (loops instead of chains over maps for the few
keys a document holds, no set built for a first key with no second key held, folded stems in
one lookup a word, empty key tuples filtered before `chain`): bench/match.py at 1,000
watchlists, base and change run in turn, six runs each on a noisy shared machine: broad
36.7-44.5k -> 42.9-45.0k articles/s (means 40.1k -> 44.3k, 1.10x), selective 44.2-49.2k ->
49.0-55.8k (46.4k -> 52.9k, 1.14x); at 100,000 selective 1,677 -> 1,737 and 1,740.

Why a regex split and a memo rather than an automaton: measured with bench/key_scan.py
(microseconds an article, title and summary, 1,000 / 100,000 broad watchlists). The matcher's
exact path, `tokenise_fast` and one memo lookup per word, takes 11.7 / 15.6 with the memo
warm (41 / 64 on words never seen before). One raw pass of an automaton over the lower-cased
text, before any check, takes 8.1 / 31.8 with pyahocorasick, 5.0 / 12.1 with ahocorasick_rs,
and 11.6 / 52.8 with Vectorscan (hyperscan, word-bounded patterns), whose 100,000 keys also
take 13 s to compile, over the 10 s budget. ahocorasick_rs's raw pass is the cheapest, but it
returns 34 / 168 hits an article ("mar" in "summary", "rate" in "irate"), and an exact finder
would still check each hit's word boundaries, plural ending, accents and field in Python:
the first of those checks alone (does the hit start a word?) brings it to 7.5 / 22.2, with
the word's end, stem and field still to check. So an automaton could save a few microseconds
at 1,000 watchlists at best, at the price of a second implementation of the word rules, and
the memo is warm for the words news repeats every day. At 100,000 watchlists finding keys is
1 to 2% of the cost of an article: the rest is per candidate and per match.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from operator import itemgetter

from consumers.matching.analysis import DocumentAnalysis
from consumers.matching.evaluate import FIELD_ORDER, Found
from consumers.matching.explain import compile_explainer
from consumers.matching.hits import Document, Hit, hit_of
from consumers.matching.keys import KeyFinder, Lexicon
from consumers.matching.naive import parse_watchlist
from consumers.matching.query import MAX_TERMS, Node, Or, one_word, terms
from consumers.matching.required import (
    Clause,
    alternatives,
    clause_cost,
    key_cost,
    key_of,
    required_clauses,
    term_keys,
)

# From this many watchlists on, the compiled objects are frozen out of the cycle collector.
FREEZE_FROM = 10_000
# A part's code is its query's number, shifted, plus its position: an OR has at most
# MAX_TERMS children, so the position fits in the low bits.
_SHIFT = MAX_TERMS.bit_length()
# Hits remembered per matcher before it starts over (a few MB), or one per explained part if
# more; see `Matcher.match`.
HIT_CACHE_LIMIT = 50_000

# Shared by the Hits built at compile time (hundreds of thousands at 100,000 watchlists).
_ONE_FIELD = {field: (field,) for field in FIELD_ORDER}

_Pair = tuple[int, Hit]  # a part's code and its Hit, sorted into config order at the end
_first = itemgetter(0)


class Matcher:
    """Compiled watchlists behind a term index; hits come in config order."""

    def __init__(self, queries: Sequence[tuple[str, Node]]) -> None:
        # One pass per field and the fields its parts read before it: the one-word parts that
        # report this field when it holds their key and none of those earlier fields do.
        passes: dict[tuple[str, tuple[str, ...]], dict[str, list[_Pair]]] = {}
        postings: dict[str, list[int]] = {}
        paired: dict[str, dict[str, list[int]]] = {}  # under two keys a part needs both of
        explained: list[tuple[int, str, Node, Clause]] = []  # code, name, part, filed clause
        always: list[int] = []
        named: set[str] = set()
        fields: set[str] = set()
        for number, (name, node) in enumerate(queries):
            for position, part in enumerate(_parts(node)):
                code = number << _SHIFT | position
                if one_word(part):
                    key = key_of(part.words[0], part.case_sensitive)
                    ordered = tuple(field for field in FIELD_ORDER if field in part.fields)
                    labels = (part.label,)
                    for place, field in enumerate(ordered):
                        by_key = passes.setdefault((field, ordered[:place]), {})
                        hit = Hit(name, labels, _ONE_FIELD[field])
                        by_key.setdefault(key, []).append((code, hit))
                    continue
                index = len(explained)
                sets = alternatives(part)
                if sets is None:
                    always.append(index)
                for keys in sets or ():
                    first, *rest = sorted(keys, key=_key_rank)
                    if not rest:
                        postings.setdefault(first, []).append(index)
                    else:
                        [second] = rest
                        paired.setdefault(first, {}).setdefault(second, []).append(index)
                explained.append((code, name, part, _held(part, sets or [])))
            for term in terms(node):
                named |= term_keys(term)
                fields |= term.fields
        self._names = tuple(name for name, _ in queries)
        self._passes = tuple(
            (field, earlier, frozenset(by_key), {k: tuple(v) for k, v in by_key.items()})
            for (field, earlier), by_key in sorted(passes.items())
        )
        # One-word parts are never explained: their Hits are built above.
        self._explainers = tuple(compile_explainer(part, known) for _, _, part, known in explained)
        self._codes = tuple(code for code, _, _, _ in explained)
        self._part_names = tuple(name for _, name, _, _ in explained)
        self._postings = {key: tuple(indexes) for key, indexes in postings.items()}
        self._indexed = frozenset(self._postings)
        self._paired = {
            first: {second: tuple(indexes) for second, indexes in by_second.items()}
            for first, by_second in paired.items()
        }
        self._paired_keys = frozenset(self._paired)
        self._always = tuple(always)
        self._always_queries = len({self._codes[index] >> _SHIFT for index in always})
        self._fields = tuple(sorted(fields - {"title", "summary"}))  # title, summary: always
        self._lexicon = Lexicon()
        self._finder = KeyFinder(named, self._lexicon)
        self._hits: dict[tuple[object, ...], Hit] = {}
        # A fixed limit thrashed at 100,000 watchlists: the real feeds' 1,169 articles need
        # 55,000 Hits there (part and fields), so the cache started over every pass.
        self._hit_limit = max(HIT_CACHE_LIMIT, len(self._explainers))

    @property
    def watchlists(self) -> tuple[str, ...]:
        return self._names

    @property
    def always_evaluated(self) -> int:
        """How many queries have a part with no required word, run for every document."""
        return self._always_queries

    def match(self, doc: Document) -> list[Hit]:
        analysis = DocumentAnalysis(doc, self._lexicon, self._finder, self._fields)
        pairs = self._accepted(analysis)
        explainers, codes, cache = self._explainers, self._codes, self._hits
        names = self._part_names
        found: Found = []
        for index in self._candidates(analysis):
            if explainers[index](analysis, found):
                key = (index, *found)
                hit = cache.get(key)
                if hit is None:
                    if len(cache) >= self._hit_limit:
                        cache.clear()
                    hit = cache[key] = hit_of(names[index], found)
                pairs.append((codes[index], hit))
                found = []
        pairs.sort(key=_first)
        # Parts of one query are adjacent now, in written order: an OR reports the terms of
        # each true part in turn, so their Hits are joined in that order.
        hits: list[Hit] = []
        last = -1
        for code, hit in pairs:
            number = code >> _SHIFT
            if number == last:
                hits[-1] = _joined(hits[-1], hit)
            else:
                hits.append(hit)
                last = number
        return hits

    def candidate_count(self, doc: Document) -> int:
        """How many query parts (a query, or a child of a top-level OR) the index selects for
        `doc`, to accept outright or to explain (a diagnostic: the matcher's cost per document
        grows with it)."""
        analysis = DocumentAnalysis(doc, self._lexicon, self._finder, self._fields)
        return len(self._accepted(analysis)) + len(self._candidates(analysis))

    def _accepted(self, analysis: DocumentAnalysis) -> list[_Pair]:
        """The one-word queries that match, with their Hits: each is filed under its key in
        each of its fields, and found there unless an earlier field of it holds the key."""
        pairs: list[_Pair] = []
        field_keys = analysis.field_keys
        for field, earlier, indexed, by_key in self._passes:
            # The frozenset's methods take the document's sets as they are (no `-=` one by
            # one), and a loop of extends beats a chain over a map for the few keys found:
            # 2.3 -> 1.7 us an article at 1,000 broad watchlists, 23 -> 19 at 100,000
            # selective (timing this method alone).
            present = indexed.intersection(field_keys[field])
            if earlier:
                present = present.difference(*map(field_keys.__getitem__, earlier))
            for key in present:
                pairs.extend(by_key[key])
        return pairs

    def _candidates(self, analysis: DocumentAnalysis) -> set[int]:
        keys, postings = analysis.keys, self._postings
        candidates = set(self._always)
        # A loop, not a chain over a map: a document holds about one such key at 1,000
        # watchlists (1.6 -> 1.4 us an article for this method, broad), and at 100,000 the
        # two take the same time.
        for key in keys & self._indexed:
            candidates.update(postings[key])
        # Parts needing two keys: per first key held, the second keys held (set operations
        # in C), so no explainer runs for a document lacking either. Most first keys held
        # have no second key held (at 1,000 watchlists, 0.4 of 3.1 an article): a test that
        # builds no set, and a loop rather than a chain over a map for the rest: 3.0 -> 1.7
        # us an article at 1,000 broad watchlists, 47 -> 40 at 100,000 selective (timing this
        # method alone).
        paired = self._paired
        for first in keys & self._paired_keys:
            by_second = paired[first]
            if not by_second.keys().isdisjoint(keys):
                for second in by_second.keys() & keys:
                    candidates.update(by_second[second])
        return candidates


def _parts(node: Node) -> tuple[Node, ...]:
    """The parts of a query matched on their own: the children of a top-level OR, else the
    query itself."""
    return node.children if isinstance(node, Or) else (node,)


def _joined(first: Hit, then: Hit) -> Hit:
    """The Hit of an OR two of whose parts matched: each term once, at its first field."""
    return hit_of(
        first.watchlist,
        list(zip(first.terms + then.terms, first.fields + then.fields, strict=True)),
    )


def _key_rank(key: str) -> tuple[float, str]:
    return key_cost(key), key  # the rarer key first; ties broken by content, not by hashing


def _held(part: Node, sets: list[Clause]) -> Clause:
    """A clause of the part's (`required`) that every document it is filed for holds, so its
    explainer need not screen it; empty if none."""
    for clause in sorted(set(required_clauses(part)), key=_rank):
        if all(not keys.isdisjoint(clause) for keys in sets):
            return clause
    return frozenset()


def _rank(clause: Clause) -> tuple[float, tuple[str, ...]]:
    return clause_cost(clause), tuple(sorted(clause))  # ties broken by content, not by hashing


def compile_watchlists(queries: Sequence[tuple[str, str]]) -> Matcher:
    """Parse and index (name, query) pairs; the first invalid query raises WatchlistError."""
    # Compiling allocates millions of small objects that all live on; the cyclic collector
    # would rescan them again and again (measured: half the time of 100,000 watchlists).
    # None of them form cycles, so it is paused while they are built.
    paused = gc.isenabled()
    gc.disable()
    try:
        matcher = Matcher([(name, parse_watchlist(name, text)) for name, text in queries])
    finally:
        if paused:
            gc.enable()
    if len(queries) >= FREEZE_FROM:
        # Every later full collection would walk the millions of objects of a large matcher
        # (measured: 0.6 s a pass, a 4x slowdown at 100,000 watchlists). Moving them to the
        # permanent generation exempts them from cycle scans; reference counting still frees
        # them when the matcher is replaced, as they form no cycles.
        gc.freeze()
    return matcher
