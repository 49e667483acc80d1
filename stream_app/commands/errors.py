"""Errors a command reports as one line with exit code 2 (configuration and usage)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad configuration or arguments: the message says what to change (exit code 2)."""
