"""The procurement envelope (spec 000 §9): framing, the SM3 ``sign``, and SM2 or digital-envelope ``data``.

Request: ``{transcode, msgcode, appid, reqtime, version, data, sign}`` where ``data`` is the JSON message
SM2-encrypted for the receiver and ``sign = sm3(data&reqtime&appkey&appsecret)`` in lowercase hex.
Response: ``{code, message, data?}`` with ``data`` SM2-encrypted for the requester. ELY103's response and
ELY104's request are digital envelopes (§9.3.3): ``data`` is the JSON under a fresh SM4 key and ``sign``
carries that key SM2-encrypted for the receiver (so those two messages have no SM3 signature).
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from baohan.gm import Envelope, GMError, SM2PrivateKey, SM2PublicKey, open_envelope, seal, sm3_hex
from baohan.gm.codec import decode, encode
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.profile import Profile
from baohan.protocols.wirejson import NotUnicode, parse_json

SHANGHAI = ZoneInfo("Asia/Shanghai")
VERSION = "v1.0"
_MSGCODE = re.compile(r"[0-9a-fA-F]{32}", re.ASCII)
_REQTIME = re.compile(r"[0-9]{14}", re.ASCII)
# Built once: json.dumps with options builds a new encoder on every call, which shows at thousands a second.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """``value`` as JSON without spaces, non-ASCII kept (what we put on the wire)."""
    return _COMPACT.encode(value)


def canonical_json(value: Any) -> str:
    """As :func:`compact_json` with sorted keys: the same content always gives the same text."""
    return _CANONICAL.encode(value)


def reqtime_datetime(text: str) -> datetime:
    """``yyyyMMddHHmmss`` (already checked to be 14 digits) as an aware Shanghai time; ValueError if no such
    time exists. Built by hand: strptime costs ten times as much, twice on every request."""
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    return datetime(year, month, day, int(text[8:10]), int(text[10:12]), int(text[12:14]), tzinfo=SHANGHAI)


@dataclass(frozen=True, slots=True)
class Channel:
    """What one side holds to talk to one counterparty: the platform-issued credentials and both keys."""

    appid: str
    appkey: str
    appsecret: str
    own_key: SM2PrivateKey
    peer_key: SM2PublicKey
    profile: Profile = field(default_factory=Profile)
    version: str = VERSION

    def __repr__(self) -> str:  # the secret and the private key never reach a log line
        return f"Channel(appid={self.appid!r}, peer_key={self.peer_key.to_hex()[:18]}…)"


@dataclass(frozen=True, slots=True)
class RequestFrame:
    """The outer fields of a request, checked for shape but not yet authenticated or decrypted."""

    transcode: str
    msgcode: str
    appid: str
    reqtime: str
    version: str
    data: str
    sign: str
    sent_at: datetime  # ``reqtime`` as an aware Shanghai time


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded answer: ``code``, ``message`` and the decrypted ``data`` object if any."""

    code: Code
    message: str
    data: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        """True for code 000."""
        return self.code is Code.OK


def new_msgcode() -> str:
    """A fresh 32-character UUID hex, as §9.2.1 asks."""
    return uuid.uuid4().hex


def format_reqtime(moment: datetime) -> str:
    """``yyyyMMddHHmmss`` in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def compute_sign(data: str, reqtime: str, appkey: str, appsecret: str) -> str:
    """§9.3.2: ``sm3(data&reqtime&appkey&appsecret)`` as lowercase hex."""
    return sm3_hex(f"{data}&{reqtime}&{appkey}&{appsecret}".encode())


def _dumps(payload: dict[str, Any]) -> bytes:
    return compact_json(payload).encode("utf-8")


def _seal_data(
    payload: dict[str, Any], peer: SM2PublicKey, profile: Profile, envelope: bool
) -> tuple[str, str | None]:
    body = _dumps(payload)
    if envelope:
        env = seal(
            body, peer, layout=profile.sm2_layout, prefix=profile.sm2_prefix, sm4_mode=profile.sm4_mode
        )
        return encode(env.data, profile.encoding), encode(env.sealed_key, profile.encoding)
    ct = peer.encrypt(body, layout=profile.sm2_layout, prefix=profile.sm2_prefix)
    return encode(ct, profile.encoding), None


def _open_data(data: str, sealed_key: str | None, own: SM2PrivateKey, profile: Profile) -> dict[str, Any]:
    """Decrypt ``data`` (and its sealed key, for envelopes) into a JSON object; 102 or 103 on failure."""
    try:
        raw = decode(data, "auto", "data")
        if sealed_key is None:
            body = own.decrypt(raw, layout="auto")
        else:
            env = Envelope(data=raw, sealed_key=decode(sealed_key, "auto", "sign"))
            body = open_envelope(env, own, layout="auto", sm4_mode=profile.sm4_mode)
    except GMError as exc:
        raise ProtocolError(Code.UNDECRYPTABLE, f"data: {exc}") from None
    try:
        payload = parse_json(body)
    except NotUnicode as exc:
        raise ProtocolError(Code.INVALID, f"data: {exc}") from None
    except ValueError:  # UnicodeDecodeError included
        raise ProtocolError(Code.INVALID, "data: decrypted message is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise ProtocolError(Code.INVALID, "data: decrypted message must be a JSON object")
    return payload


def encode_request(
    channel: Channel,
    transcode: str,
    payload: dict[str, Any],
    *,
    envelope: bool = False,
    msgcode: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The wire request for ``payload``, encrypted for the peer and signed (or sealed, for envelopes)."""
    reqtime = format_reqtime(now or datetime.now(SHANGHAI))
    data, sealed_key = _seal_data(payload, channel.peer_key, channel.profile, envelope)
    sign = (
        sealed_key
        if sealed_key is not None
        else compute_sign(data, reqtime, channel.appkey, channel.appsecret)
    )
    return {
        "transcode": transcode,
        "msgcode": msgcode or new_msgcode(),
        "appid": channel.appid,
        "reqtime": reqtime,
        "version": channel.version,
        "data": data,
        "sign": sign,
    }


def parse_frame(body: object) -> RequestFrame:
    """Check a request's outer fields (presence, type, §9.2.1 lengths and formats); 103 naming the field."""
    if not isinstance(body, dict):
        raise ProtocolError(Code.INVALID, "request body must be a JSON object")
    limits = {"transcode": 20, "msgcode": 32, "appid": 32, "reqtime": 14, "version": 10}
    values: dict[str, str] = {}
    for name in ("transcode", "msgcode", "appid", "reqtime", "version", "data", "sign"):
        value = body.get(name)
        if value is None or value == "":
            raise ProtocolError(Code.INVALID, f"{name}: required")
        if not isinstance(value, str):
            raise ProtocolError(Code.INVALID, f"{name}: must be a string")
        if "\0" in value:
            # Refused before anything looks it up: PostgreSQL cannot even compare text holding it.
            raise ProtocolError(Code.INVALID, f"{name}: must not contain the NUL character (\\u0000)")
        if name in limits and len(value) > limits[name]:
            raise ProtocolError(Code.INVALID, f"{name}: longer than {limits[name]} characters")
        values[name] = value
    if not _MSGCODE.fullmatch(values["msgcode"]):
        raise ProtocolError(Code.INVALID, "msgcode: must be a 32-character UUID hex")
    if not _REQTIME.fullmatch(values["reqtime"]):
        raise ProtocolError(Code.INVALID, "reqtime: must be yyyyMMddHHmmss")
    try:
        sent_at = reqtime_datetime(values["reqtime"])
    except ValueError:
        raise ProtocolError(Code.INVALID, "reqtime: not a real date and time") from None
    return RequestFrame(**values, sent_at=sent_at)


def check_sign(frame: RequestFrame, channel: Channel) -> None:
    """101 unless ``sign`` is §9.3.2's digest under this channel's appkey and appsecret."""
    expected = compute_sign(frame.data, frame.reqtime, channel.appkey, channel.appsecret)
    if not hmac.compare_digest(frame.sign.lower().encode(), expected.encode()):
        raise ProtocolError(Code.SIGN_MISMATCH, "sign does not match sm3(data&reqtime&appkey&appsecret)")


def check_clock(frame: RequestFrame, profile: Profile, now: datetime | None = None) -> None:
    """103 when ``reqtime`` is further from our clock than the profile allows (replays of stale requests)."""
    skew = abs((now or datetime.now(SHANGHAI)) - frame.sent_at)
    if skew > timedelta(seconds=profile.max_clock_skew_seconds):
        raise ProtocolError(
            Code.INVALID,
            f"reqtime: {int(skew.total_seconds())} s from server time (at most {profile.max_clock_skew_seconds} s)",
        )


def open_request(frame: RequestFrame, channel: Channel, *, envelope: bool = False) -> dict[str, Any]:
    """The decrypted JSON message of a request whose sign (if any) was checked."""
    return _open_data(frame.data, frame.sign if envelope else None, channel.own_key, channel.profile)


def encode_response(
    channel: Channel, code: Code, message: str, data: dict[str, Any] | None = None, *, envelope: bool = False
) -> dict[str, str]:
    """The wire answer; ``data`` is encrypted for the requester (as an envelope for ELY103)."""
    wire = {"code": Code(code).value, "message": message[:200]}
    if data is not None:
        sealed, sealed_key = _seal_data(data, channel.peer_key, channel.profile, envelope)
        wire["data"] = sealed
        if sealed_key is not None:
            wire["sign"] = sealed_key
    return wire


class ResponseInvalid(Exception):
    """A counterparty's answer that is not a well-formed §9.2.2 response."""


def decode_response(channel: Channel, body: object, *, envelope: bool = False) -> Response:
    """Check and decrypt a counterparty's answer; ResponseInvalid when it is malformed or undecryptable."""
    if not isinstance(body, dict):
        raise ResponseInvalid("response body is not a JSON object")
    code, message, data = body.get("code"), body.get("message") or "", body.get("data")
    try:
        parsed = Code(str(code))
    except ValueError:
        raise ResponseInvalid(f"response code {code!r} is not one of §11.1") from None
    if not isinstance(message, str):
        raise ResponseInvalid("response message is not a string")
    if data in (None, "", {}):
        return Response(parsed, message, None)
    if not isinstance(data, str):
        raise ResponseInvalid("response data is not an encrypted string")
    sealed_key = body.get("sign") if envelope else None
    if envelope and not isinstance(sealed_key, str):
        raise ResponseInvalid("envelope response has no sealed key in sign")
    try:
        payload = _open_data(data, sealed_key, channel.own_key, channel.profile)
    except ProtocolError as exc:
        raise ResponseInvalid(exc.detail) from None
    return Response(parsed, message, payload)
