"""Addresses: the stable names of a stack's resources, typed and parsed in one place.

A job instance is ``job`` or ``job[a=1.0,b=2]`` (its point in canonical form, see
``qplan.manifest.sweep``); a session is ``session.NAME`` (a job name has no dot, so the two
never collide). Code that needs a part of an address parses it here, never by slicing.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SESSION_PREFIX", "Address", "parse_address", "session_address"]

SESSION_PREFIX = "session."


class Address(NamedTuple):
    """``name``: the job's (or session's) name; ``point``: ``[a=1.0]``, empty for a job
    without a sweep and for a session."""

    name: str
    point: str = ""
    session: bool = False

    def __str__(self) -> str:
        return SESSION_PREFIX + self.name if self.session else self.name + self.point


def parse_address(text: str) -> Address:
    if text.startswith(SESSION_PREFIX):
        return Address(text.removeprefix(SESSION_PREFIX), "", True)
    name, bracket, rest = text.partition("[")
    return Address(name, bracket + rest)


def session_address(name: str) -> str:
    return SESSION_PREFIX + name
