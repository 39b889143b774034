"""Helpers the test folders share: local feed servers, receivers that speak each destination's
HTTP shape, a local SMTP server, the Kafka rig and its processes. Tests import from here, never
from another folder's conftest.py."""
