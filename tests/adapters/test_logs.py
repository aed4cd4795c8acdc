"""JSON log lines: their shape, the request id they carry, and the masking of what must not be logged."""

from __future__ import annotations

import json
import logging
import sys

from hypothesis import given
from hypothesis import strategies as st

from baohan.adapters.logs import REQUEST_ID, JsonFormatter, log_config, mask, new_request_id


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("baohan.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_line_is_one_json_object_with_the_request_id_of_its_context() -> None:
    formatter = JsonFormatter()
    token = REQUEST_ID.set("req-0001-abcd")
    try:
        line = json.loads(
            formatter.format(record("answered %s", "000", fields={"code": "000", "duration_ms": 1.5}))
        )
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "req-0001-abcd" and line["message"] == "answered 000"
    assert (line["level"], line["logger"], line["code"], line["duration_ms"]) == (
        "warning",
        "baohan.test",
        "000",
        1.5,
    )
    assert line["time"].endswith("+00:00")
    # An explicit one (a delivery's, logged from another thread) wins; none at all is left out.
    assert json.loads(formatter.format(record("x", request_id="given-id-01")))["request_id"] == "given-id-01"
    assert "request_id" not in json.loads(formatter.format(record("x")))


def test_identity_numbers_and_bearer_tokens_are_masked_in_messages_and_tracebacks() -> None:
    assert (
        mask("legalIdNo 110101198812120018 and 32010619770707001x") == "legalIdNo <id-number> and <id-number>"
    )
    assert mask("Authorization: Bearer s3cr3t-token") == "Authorization: Bearer <token>"
    # Not an identity number: too long, or no birth date in it (a guarantee id, an amount in fen).
    assert (
        mask("id 1101011988121200181 amount 999999999999999999")
        == "id 1101011988121200181 amount 999999999999999999"
    )
    formatter = JsonFormatter()
    try:
        raise ValueError("contractCerNo 110101199001011234 is bad")
    except ValueError:
        failed = record("failed", exc_info=sys.exc_info())
    line = json.loads(formatter.format(failed))
    assert "110101199001011234" not in json.dumps(line) and "<id-number>" in line["error"]


@given(st.text(max_size=80))
def test_masking_keeps_text_without_ids_or_tokens(text: str) -> None:
    if "earer" not in text.lower():
        digits_run = max(
            (len(run) for run in "".join(c if c.isascii() and c.isdigit() else " " for c in text).split()),
            default=0,
        )
        if digits_run < 17:
            assert mask(text) == text


def test_request_ids_supplied_by_callers_are_kept_only_when_plain() -> None:
    assert new_request_id("client-req-42") == "client-req-42"
    for hostile in (None, "", "short", "x" * 65, "has space 123", 'quote"injection', "日本語の要求番号です"):
        made = new_request_id(hostile)
        assert made != hostile and len(made) == 32 and made.isalnum()


def test_sqlalchemy_never_logs_statements_or_rows() -> None:
    assert log_config("debug")["loggers"]["sqlalchemy"]["level"] == "WARNING"
