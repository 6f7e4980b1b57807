"""Errors mecopt raises for bad user input.

Every message is one line and names the field (and the UE or server) at fault, so the
CLI can print it as is, without a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a malformed file, a wrong shape, an unknown name or a bad value."""
