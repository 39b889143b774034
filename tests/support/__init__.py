"""Helpers the test folders (and the benches) share; tests import from here, never from another
folder's conftest.py.

- `feed_server`: a scripted HTTP server for feeds; `receivers`: Slack-like and signing webhook
  receivers; `sample_feeds`: small synthetic RSS documents; `story_labels`: the hand-labelled
  stories joined to the real feeds; `cli`: the real `newsalert` command; `clock`: a clock
  that moves only when a test says so.
- For multi-process runs: `processes` (stages as OS processes, a supervisor), `broker`
  (scripts/kafka, reading topics), `story_feeds` (stories that appear over time) and `rig`
  (the config, the wiring and what reached the receiver).
"""
