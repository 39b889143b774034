"""Story grouping (pure, no I/O, no clock): one story per event across feeds and re-posts.

- `index`: StoryItem, Assignment, StoryIndex (assign, restore, expire) and `group` (dry run).
- `similarity`: the scorers compared in bench/stories_eval.py (title shingles, TF-IDF cosine).
- `text`: words, terms, names and normalised titles.
"""

from consumers.stories.index import (
    METHODS,
    Assignment,
    Method,
    StoryIndex,
    StoryItem,
    group,
)

__all__ = ["METHODS", "Assignment", "Method", "StoryIndex", "StoryItem", "group"]
