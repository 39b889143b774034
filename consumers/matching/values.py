"""What goes into a matcher and what comes out (pure values)."""

from __future__ import annotations

from dataclasses import dataclass, field

# What an evaluator reports: a (term label, field) pair per term that made a query match.
Found = list[tuple[str, str]]


@dataclass(frozen=True)
class Document:
    """The fields of one article, as plain text."""

    title: str
    summary: str
    feed: str = ""
    link: str = ""

    def texts(self) -> dict[str, str]:
        return {"title": self.title, "summary": self.summary, "feed": self.feed, "link": self.link}


@dataclass(frozen=True, slots=True)  # slots: a large matcher builds hundreds per article
class Hit:
    """A watchlist that matched and the query terms, as written, that made it match.

    `fields[i]` names the document field ("title", "summary", "feed" or "link") where
    `terms[i]` was found, so a user can see why an alert fired. It is an explanation, not part
    of the result's identity: equality compares `watchlist` and `terms` only, and a Hit built
    by hand as `Hit(watchlist, terms)` has no fields.
    """

    watchlist: str
    terms: tuple[str, ...]
    fields: tuple[str, ...] = field(default=(), compare=False)

    def explain(self) -> tuple[tuple[str, str], ...]:
        """(term, field) pairs, in the order the terms appear in `terms`."""
        return tuple(zip(self.terms, self.fields, strict=False))


def hit_of(watchlist: str, found: Found) -> Hit:
    """A Hit from an evaluator's (label, field) pairs: each term once, at its first field."""
    if len(found) == 1:  # the commonest case, by far
        label, field_name = found[0]
        return Hit(watchlist, (label,), (field_name,))
    labels, fields = zip(*found, strict=True) if found else ((), ())
    if len(set(labels)) == len(labels):  # the usual case: no term reported twice
        return Hit(watchlist, labels, fields)
    first = dict(reversed(found))  # reversed, so the first occurrence of a label wins
    terms = tuple(dict.fromkeys(labels))
    return Hit(watchlist, terms, tuple(first[label] for label in terms))
