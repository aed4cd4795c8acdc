"""One JSON shape for every error the admin API answers: ``{"code", "message"}``.

``code`` is machine-readable (``not_found``, ``conflict``, ``invalid``, ``unauthorized``, …, ``internal``),
``message`` one line for a person; a validation error adds ``errors``, one per field. Never a non-JSON 500:
an unexpected exception is logged and answered ``{"code": "internal"}`` without its text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class AdminError(Exception):
    """An operator's request refused: ``status`` with a machine-readable ``code`` and a ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(status: int, message: str, code: str | None = None, **more: Any) -> dict[str, Any]:
    """The JSON of an error answer."""
    return {"code": code or CODES.get(status, "error"), "message": message, **more}


def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AdminError)
    # A 401 names the scheme the docs page can authorize with.
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(error_body(exc.status, exc.message, exc.code), exc.status, headers=headers)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
    body = error_body(exc.status_code, detail)
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and why: pydantic's ``input`` and ``ctx`` may hold the submitted secret, or be unencodable.
    errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return JSONResponse(error_body(422, detail, errors=errors), status_code=422)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body(500, "internal error; the server's log has the details"), status_code=500)


def _nul_at(value: Any, where: str) -> str | None:
    """The field path of the first string in a JSON value holding a NUL character, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return where
        if (found := _nul_at(item, f"{where}.{key}")) is not None:
            return found
    return None


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL character anywhere an operator's request carries text: no record has one in its id
    (404), and no field may hold one (422, naming it); PostgreSQL's text cannot store it at all."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise AdminError(404, "not_found", f"no such {name}: it holds a NUL character")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise AdminError(
                422, "invalid", f"query.{name.replace(chr(0), '')}: must not hold a NUL character"
            )
    body = await request.body()
    if b"\\u0000" in body or b"\x00" in body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # not JSON: the route's own validation answers it
        if (field := _nul_at(parsed, "body")) is not None:
            raise AdminError(422, "invalid", f"{field}: must not hold a NUL character")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every HTTP error, validation error and unexpected exception of ``app`` as one JSON shape."""
    app.add_exception_handler(AdminError, _refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)
