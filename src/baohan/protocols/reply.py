"""What a protocol codec hands the front for one request: the answer's bytes and what it was about."""

from __future__ import annotations

from typing import NamedTuple


class Reply(NamedTuple):
    """An encoded answer, with the request's interface and msgcode and the answer code, for logs and metrics.

    ``interface`` and ``msgcode`` are ``"?"`` when the request did not get far enough to name them.
    """

    body: bytes
    interface: str
    msgcode: str
    code: str
