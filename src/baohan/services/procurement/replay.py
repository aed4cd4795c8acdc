"""How procurement keys its idempotency records: by msgcode per counterparty, whatever the transcode."""

from __future__ import annotations

from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.endpoint import Answer
from baohan.services.idempotency import Key, Recorded

PROTOCOL = "procurement"
ANY_TRANSCODE = ""  # a msgcode names one request whatever its transcode


def replay_key(peer_id: str, msgcode: str) -> Key:
    """The idempotency key of a procurement request: its msgcode, per counterparty."""
    return Key(PROTOCOL, peer_id, ANY_TRANSCODE, msgcode)


def replayed_answer(recorded: Recorded) -> Answer:
    """A recorded answer as the router sends it."""
    return Answer(Code(recorded.code), recorded.message, recorded.data)


def reused(msgcode: str) -> ProtocolError:
    """The refusal of a msgcode already used for other content."""
    return ProtocolError(Code.INVALID, f"msgcode: {msgcode} was already used for a different request")
