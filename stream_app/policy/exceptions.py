"""Errors of the policy package."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the offending key."""
