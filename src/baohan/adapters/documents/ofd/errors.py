"""The one error an OFD document raises when it cannot be read or written."""

from __future__ import annotations


class OfdError(ValueError):
    """An OFD package or one of its parts is malformed; the message names the part and the problem."""
