"""An httpx client that calls one tender interface of a counterparty: signs, posts, reads the answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from baohan.protocols.fields import MessageInvalid, validate_wire
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.models import PlatformRequest
from baohan.protocols.tender.sign import signed
from baohan.protocols.tender.tables import INTERFACES
from baohan.protocols.tender.wire import TenderError, encode_body, format_timestamp, number_text, parse_answer


class TenderRefused(Exception):
    """The counterparty answered code 0: ``message`` is its reason. Retrying the same request will not help."""

    def __init__(self, interface: str, message: str) -> None:
        super().__init__(f"{interface} refused: {message}")
        self.interface = interface
        self.message = message


class TenderTransportError(Exception):
    """The request may not have arrived, or its answer was unusable: safe to retry (the receiver answers
    a replay the same). ``status`` is the HTTP status when the server answered other than 200."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _now() -> datetime:
    return datetime.now(UTC)


class TenderClient:
    """Calls tender interfaces over ``http`` (the caller owns it: timeouts, pooling, closing)."""

    def __init__(self, http: httpx.Client, *, clock: Callable[[], datetime] = _now) -> None:
        self._http = http
        self._clock = clock

    def message(self, interface: str, fields: Mapping[str, Any], channel: TenderChannel) -> dict[str, Any]:
        """``fields`` as sent: with ``appkey``, ``timestamp`` and a platform's ``platformcode`` (from the
        profile) unless given, None fields left out, amounts as the profile says, and signed."""
        out: dict[str, Any] = {"appkey": channel.appkey, "timestamp": format_timestamp(self._clock())}
        code = channel.profile.platformcode
        if code and issubclass(INTERFACES[interface].request, PlatformRequest):
            out["platformcode"] = code
        for name, value in fields.items():
            if isinstance(value, Decimal) and not channel.profile.amounts_as_numbers:
                value = number_text(value)
            if value is not None:
                out[name] = value
        return signed(out, channel.appsecret, channel.profile.sign)

    def call(
        self, url: str, interface: str, fields: Mapping[str, Any], channel: TenderChannel
    ) -> dict[str, Any]:
        """Post ``interface`` to ``url`` (the counterparty's prefix) and return the answer's ``data``;
        TenderRefused on code 0, TenderTransportError when the answer never came or is unusable."""
        body, content_type = encode_body(self.message(interface, fields, channel), channel.profile.body)
        target = f"{url.rstrip('/')}/{interface}"
        try:
            reply = self._http.post(target, content=body, headers={"content-type": content_type})
        except httpx.HTTPError as exc:
            raise TenderTransportError(f"{interface} to {target}: {type(exc).__name__}: {exc}") from None
        if reply.status_code != 200:
            raise TenderTransportError(
                f"{interface} to {target}: HTTP {reply.status_code}", reply.status_code
            )
        try:
            ok, message, data = parse_answer(reply.content)
        except TenderError as exc:
            raise TenderTransportError(f"{interface} to {target}: unusable answer: {exc}") from None
        if not ok:
            raise TenderRefused(interface, message)
        model = INTERFACES[interface].data
        if model is not None:
            try:
                validate_wire(model, data)
            except MessageInvalid as exc:
                raise TenderTransportError(f"{interface} to {target}: unusable answer: data.{exc}") from None
        return data
