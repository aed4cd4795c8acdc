"""The tender wire of a role: one path per interface served, ``{prefix}/{interface}``.

The router owns the wire: body, sign, clock, replay lookup and validation, in that order: the sign is
checked before any other work on a request, so a request that is not the counterparty's is answered
``sign: ...`` whatever else is wrong with it. The role behind it (an :class:`Endpoint`) owns the business
and the replay record. :class:`TenderWire` is what the protocol-neutral front (``baohan.web.front``)
drives; nothing here knows a web framework.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from baohan.protocols.fields import MessageInvalid, validate_wire
from baohan.protocols.reply import Reply
from baohan.protocols.tender.endpoint import Answer, Endpoint, Inbound, TenderChannel, fingerprint, replay_key
from baohan.protocols.tender.models import PlatformRequest
from baohan.protocols.tender.sign import SIGN, matches
from baohan.protocols.tender.tables import INTERFACES
from baohan.protocols.tender.wire import TenderError, check_clock, encode_answer, parse_body, parse_timestamp

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "/tender"
INTERNAL_ERROR = "internal error"
PAUSED = "service paused: try again later"
APPKEY_MAX = 50

_Prepared = tuple[str, "Inbound | Answer"]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _channel(endpoint: Endpoint, fields: dict[str, object]) -> TenderChannel:
    appkey = fields.get("appkey")
    if not isinstance(appkey, str) or not appkey.strip():
        raise TenderError("appkey: required")
    if len(appkey) > APPKEY_MAX:
        raise TenderError(f"appkey: must be at most {APPKEY_MAX} characters, got {len(appkey)}")
    channel = endpoint.channel(appkey)
    if channel is None:
        raise TenderError(f"appkey: {appkey[:50]} is not registered")
    return channel


def _check_sign(fields: dict[str, object], channel: TenderChannel) -> None:
    if fields.get(SIGN) in (None, ""):
        raise TenderError("sign: required")
    if not matches(fields, channel.appsecret, channel.profile.sign):
        raise TenderError(f"sign: does not match ({channel.profile.sign} over the fields in ASCII order)")


def prepare(endpoint: Endpoint, interface: str, body: bytes, clock: Clock = _now) -> _Prepared:
    """The wire checks of one request to ``interface``: an Inbound for the role, or already its Answer;
    never raises."""
    try:
        if endpoint.paused():
            return interface, Answer(False, PAUSED)
        fields = parse_body(body)
        channel = _channel(endpoint, fields)
        _check_sign(fields, channel)
        spec = INTERFACES[interface]
        digest = fingerprint(interface, fields)
        key = replay_key(fields, spec.key)
        if key is not None:
            # A processed request is answered as before, even once its timestamp has left the window.
            prior = endpoint.replayed(channel.appkey, interface, key, digest)
            if prior is not None:
                return interface, prior
        sent_at = parse_timestamp(fields.get("timestamp"))
        check_clock(sent_at, clock(), channel.profile.max_clock_skew_seconds)
        model = validate_wire(spec.request, fields)
        code = channel.profile.platformcode
        if isinstance(model, PlatformRequest) and code and model.platformcode != code:
            raise TenderError(f"platformcode: {model.platformcode} is not this counterparty's")
        if key is None:  # the model requires every field of the key: this cannot be reached
            raise TenderError(f"{', '.join(spec.key)}: required")
        return interface, Inbound(channel.appkey, interface, key, digest, sent_at, fields, model, channel)
    except (TenderError, MessageInvalid) as exc:
        return interface, Answer(False, str(exc))
    except Exception:
        return interface, _unexpected(interface)


def _unexpected(interface: str) -> Answer:
    # The answer says nothing of the internals; the log has the trace.
    log.exception("tender %s failed unexpectedly", interface)
    return Answer(False, INTERNAL_ERROR)


def _handle(endpoint: Endpoint, step: Inbound) -> Answer:
    try:
        return endpoint.handle(step)
    except TenderError as exc:
        return Answer(False, exc.message)
    except Exception:
        return _unexpected(step.interface)


class TenderWire:
    """The tender wire of one role, for the protocol front: ``{prefix}/{interface}`` for each served."""

    def __init__(
        self,
        endpoint: Endpoint,
        served: Collection[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = _now,
    ) -> None:
        unknown = sorted(set(served) - set(INTERFACES))
        if unknown:
            raise ValueError(f"not tender interfaces: {', '.join(unknown)}")
        self._endpoint, self._clock = endpoint, clock
        self.prefix = prefix.rstrip("/")
        self.paths: dict[str, str | None] = {f"{self.prefix}/{name}": name for name in sorted(served)}

    def prepare(self, body: bytes, expected: str | None) -> _Prepared:
        """The wire checks of one request: an Inbound for the role, or already its Answer; never raises."""
        if expected is None:  # every path names its interface
            return "?", Answer(False, "path: not an interface")
        return prepare(self._endpoint, expected, body, self._clock)

    async def complete(self, prepared: _Prepared) -> Reply:
        """The role's answer to a prepared request, encoded; the role's work runs in a worker thread."""
        interface, step = prepared
        key = "?"
        if isinstance(step, Answer):
            answer = step
        else:
            key = step.key
            answer = await asyncio.to_thread(_handle, self._endpoint, step)
        try:
            body = encode_answer(answer.ok, answer.message, answer.data)
        except Exception:
            answer = _unexpected(interface)
            body = encode_answer(False, answer.message)
        return Reply(body, interface, key, "1" if answer.ok else "0")

    def oversized(self, limit: int) -> Reply:
        """Code 0 naming the body's limit."""
        return Reply(self.refuse(f"request body: larger than {limit} bytes"), "?", "?", "0")

    def refuse(self, detail: str) -> bytes:
        """Code 0 with ``detail``: a request that never reaches the wire checks (wrong path or method)."""
        return encode_answer(False, detail)
