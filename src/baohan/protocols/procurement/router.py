"""The procurement wire of a role: one endpoint dispatching on ``transcode`` and one path each.

The router owns the wire: framing, sign, clock, decryption, validation and the §11.1 error mapping. The
role behind it (an :class:`Endpoint`) owns the business, and the replay record that makes a repeated
``msgcode`` answer the same without a second effect. :class:`ProcurementWire` is what the protocol-neutral
front (``baohan.web.front``) drives; nothing here knows a web framework.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from baohan.protocols.procurement.codes import MESSAGES, Code, ProtocolError
from baohan.protocols.procurement.endpoint import (
    ENVELOPE_REQUESTS,
    ENVELOPE_RESPONSES,
    Answer,
    Endpoint,
    Inbound,
    Validator,
    fingerprint,
    fingerprint_of,
)
from baohan.protocols.procurement.envelope import (
    Channel,
    canonical_json,
    check_clock,
    check_sign,
    compact_json,
    encode_response,
    open_request,
    parse_frame,
)
from baohan.protocols.reply import Reply
from baohan.protocols.wirejson import NotUnicode, parse_json

# Answer, Inbound, Endpoint, Validator and fingerprint live in .endpoint and are re-exported here: the
# router's callers name them from the router.
__all__ = [
    "ENVELOPE_REQUESTS",
    "ENVELOPE_RESPONSES",
    "SINGLE_PATH",
    "Answer",
    "Endpoint",
    "Inbound",
    "ProcurementWire",
    "Validator",
    "fingerprint",
    "prepare",
    "process",
]
log = logging.getLogger(__name__)
DEFAULT_PREFIX = "/zcdservice/v1/lg"
SINGLE_PATH = f"{DEFAULT_PREFIX}/ELYApi"


def _reply_body(channel: Channel | None, transcode: str, answer: Answer) -> dict[str, Any]:
    if channel is None or answer.data is None:
        return {"code": answer.code.value, "message": answer.message[:200]}
    return encode_response(
        channel, answer.code, answer.message, answer.data, envelope=transcode in ENVELOPE_RESPONSES
    )


def _failure(exc: ProtocolError) -> Answer:
    return Answer(exc.code, exc.message)


_Prepared = tuple[Channel | None, str, "Inbound | Answer"]


def _unexpected(transcode: str, msgcode: str) -> Answer:
    # The answer says nothing of the internals; the log has the trace, keyed by msgcode.
    log.exception("procurement %s msgcode=%s failed unexpectedly", transcode, msgcode)
    return Answer(Code.SERVER_ERROR, MESSAGES[Code.SERVER_ERROR])


def prepare(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> _Prepared:
    """The wire checks of one request: an Inbound for the role, or already the Answer; never raises."""
    channel: Channel | None = None
    transcode = expected_transcode or "?"
    msgcode = "?"
    try:
        if endpoint.paused():
            raise ProtocolError(Code.PAUSED)
        try:
            raw = parse_json(body)
        except NotUnicode as exc:
            raise ProtocolError(Code.INVALID, f"request body: {exc}") from None
        except ValueError:  # UnicodeDecodeError included
            raise ProtocolError(Code.INVALID, "request body is not UTF-8 JSON") from None
        frame = parse_frame(raw)
        transcode, msgcode = frame.transcode, frame.msgcode
        if expected_transcode is not None and frame.transcode != expected_transcode:
            raise ProtocolError(
                Code.INVALID, f"transcode: {frame.transcode} sent to the {expected_transcode} path"
            )
        if frame.transcode not in served:
            raise ProtocolError(Code.INVALID, f"transcode: {frame.transcode} is not served here")
        channel = endpoint.channel(frame.appid)
        if channel is None:
            raise ProtocolError(Code.SIGN_MISMATCH, f"appid: {frame.appid} is not registered")
        envelope = frame.transcode in ENVELOPE_REQUESTS
        if not envelope:
            check_sign(frame, channel)
        payload = open_request(frame, channel, envelope=envelope)
        canonical = canonical_json(payload)
        digest = fingerprint_of(frame.transcode, canonical)
        try:
            check_clock(frame, channel.profile)
        except ProtocolError:
            # A processed msgcode is answered as before, even once its reqtime has left the clock window.
            prior = endpoint.replayed(frame.appid, frame.msgcode, digest)
            if prior is None:
                raise
            return channel, transcode, prior
        message = validate(frame.transcode, payload)
        return (
            channel,
            transcode,
            Inbound(
                frame.appid,
                frame.msgcode,
                frame.transcode,
                frame.sent_at,
                digest,
                payload,
                message,
                canonical,
            ),
        )
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        return channel, transcode, _unexpected(transcode, msgcode)


def process(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> tuple[Channel | None, str, Answer]:
    """Run one request through the wire checks and the role, in this thread; never raises."""
    channel, transcode, step = prepare(endpoint, validate, served, body, expected_transcode)
    if isinstance(step, Answer):
        return channel, transcode, step
    try:
        return channel, transcode, endpoint.handle(step)
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        return channel, transcode, _unexpected(transcode, step.msgcode)


class ProcurementWire:
    """The procurement wire of one role, for the protocol front: ``{prefix}/ELYApi`` (dispatch on
    ``transcode``) and ``{prefix}/ELY1xx`` (one path per transcode served)."""

    def __init__(
        self,
        endpoint: Endpoint,
        validate: Validator,
        served: Collection[str],
        *,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._endpoint, self._validate, self._served = endpoint, validate, frozenset(served)
        self.paths: dict[str, str | None] = {f"{prefix}/ELYApi": None}
        self.paths.update({f"{prefix}/{code}": code for code in sorted(self._served)})

    def prepare(self, body: bytes, expected: str | None) -> _Prepared:
        """The wire checks of one request: an Inbound for the role, or already its Answer; never raises."""
        return prepare(self._endpoint, self._validate, self._served, body, expected)

    async def complete(self, prepared: _Prepared) -> Reply:
        """The role's answer to a prepared request, encrypted and signed as the wire wants; never raises.

        The role's blocking work runs in a worker thread, or is awaited when the role offers
        ``handle_async`` (the issuer's ELY101 group commit).
        """
        channel, transcode, step = prepared
        msgcode = "?"
        if isinstance(step, Answer):
            answer = step
        else:
            msgcode = step.msgcode
            handle_async = getattr(self._endpoint, "handle_async", None)
            try:
                if handle_async is not None:
                    answer = await handle_async(step)
                else:
                    answer = await asyncio.to_thread(self._endpoint.handle, step)
            except ProtocolError as exc:
                answer = _failure(exc)
            except Exception:
                answer = _unexpected(transcode, step.msgcode)
        try:
            reply = _reply_body(channel, transcode, answer)
        except Exception:
            answer = _unexpected(transcode, msgcode)
            reply = {"code": answer.code.value, "message": answer.message}
        # Only interfaces served here name themselves: a label per made-up transcode would grow without bound.
        interface = transcode if transcode in self._served else "?"
        return Reply(compact_json(reply).encode(), interface, msgcode, answer.code.value)

    def oversized(self, limit: int) -> Reply:
        """103 naming the body's size."""
        answer = Answer(Code.INVALID, f"request body: larger than {limit} bytes")
        body = compact_json({"code": answer.code.value, "message": answer.message}).encode()
        return Reply(body, "?", "?", answer.code.value)
