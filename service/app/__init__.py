"""The composition root: the command line, the commands, and the wiring of both modes.

`cli` parses arguments and loads the config; `commands` implements each command; `embedded`
wires the three stages in one process on the SQLite store; `kafka` runs them as separate
roles over Kafka; `destinations` builds each destination and its delivery policy. Only this
package imports `consumers`, and nothing imports it.
"""
