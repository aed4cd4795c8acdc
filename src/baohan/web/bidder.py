"""The bidder page (spec 004 flow steps 2–3): the bidder opens the sealed application and signs the
agreement in their own browser, so their private key never reaches this server.

Mounted on the issuer's protocol listener (``redirecturl`` points at ``{prefix}/{token}``). The page's
SM2/SM4 code is sm-crypto's browser build (``dist/sm2.js``, ``dist/sm4.js``), installed from the npm
registry by ``scripts/install-browser-js.sh`` and found through ``$BAOHAN_SM_CRYPTO_JS`` (its ``dist``
directory) or ``browser/node_modules/sm-crypto/dist`` in the checkout; our own script is
``static/bidder/bidder.js``. Every refusal is JSON ``{code, message, field}`` the page shows; never a 5xx.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

import baohan
from baohan.protocols.tender.bidder import BidderError
from baohan.protocols.wirejson import NotUnicode, parse_json
from baohan.services.tender.bidder_desk import BidderDesk, BidderView, UnknownToken
from baohan.web.errors import error_body

SM_CRYPTO_ENV = "BAOHAN_SM_CRYPTO_JS"
_SM_CRYPTO_FILES = ("sm2.js", "sm4.js")
_OWN_FILES = {"bidder.js": "text/javascript", "bidder.css": "text/css"}
_TOKEN = re.compile(r"[A-Za-z0-9_~.-]{1,200}")
_MAX_BODY = 64 * 1024
_HEADERS = {
    # The page runs only our script and sm-crypto's, both served from here; the token in the URL stays here.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_templates = Environment(
    loader=PackageLoader("baohan.web", "templates"), autoescape=select_autoescape(["html"])
)


class SmCryptoMissing(RuntimeError):
    """sm-crypto's browser build is not where the settings say."""


def sm_crypto_dir() -> Path:
    """sm-crypto's ``dist`` directory: ``$BAOHAN_SM_CRYPTO_JS``, else ``browser/node_modules`` in the checkout."""
    configured = os.environ.get(SM_CRYPTO_ENV)
    checkout = Path(baohan.__file__).resolve().parents[2]
    where = Path(configured) if configured else checkout / "browser/node_modules/sm-crypto/dist"
    missing = [name for name in _SM_CRYPTO_FILES if not (where / name).is_file()]
    if missing:
        raise SmCryptoMissing(
            f"sm-crypto's browser build is missing ({', '.join(missing)} not in {where}): "
            f"run scripts/install-browser-js.sh (make demo and make test do), or set ${SM_CRYPTO_ENV} "
            "to the dist/ directory of sm-crypto 0.3.13"
        )
    return where


def _refusal(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = error_body(status, message, **({"field": field} if field else {}))
    return JSONResponse(body, status, headers=_HEADERS)


def _view_json(view: BidderView) -> JSONResponse:
    return JSONResponse({"state": view.state.value, "readable": dict(view.readable)}, headers=_HEADERS)


async def _offer(request: Request, names: tuple[str, ...]) -> list[str]:
    # JSON only: a cross-site HTML form cannot send it without the browser asking this origin first.
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BidderError("body", "must be JSON (Content-Type: application/json)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise BidderError("body", f"is larger than {_MAX_BODY} bytes")
    try:
        data = parse_json(body)
    except NotUnicode as exc:
        raise BidderError("body", str(exc)) from None
    except (UnicodeDecodeError, ValueError):
        raise BidderError("body", "is not JSON") from None
    if not isinstance(data, dict):
        raise BidderError("body", "is not a JSON object")
    values = []
    for name in names:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BidderError(name, "is required (a string)")
        values.append(value)
    return values


def bidder_router(desk: BidderDesk, *, prefix: str = "/bidder", sm_crypto: Path | None = None) -> APIRouter:
    """The bidder page and its calls over ``desk``; SmCryptoMissing at once if sm-crypto is not installed."""
    where = sm_crypto or sm_crypto_dir()
    static = resources.files("baohan.web").joinpath("static/bidder")
    # Read once, at start: a few tens of kilobytes, and a missing file fails here rather than in a page.
    assets = {name: ((where / name).read_bytes(), "text/javascript") for name in _SM_CRYPTO_FILES}
    assets |= {name: (static.joinpath(name).read_bytes(), kind) for name, kind in _OWN_FILES.items()}
    router = APIRouter(prefix=prefix)

    @router.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in assets:
            return _refusal(404, f"no asset {name}")
        content, kind = assets[name]
        return Response(content, media_type=kind, headers=_HEADERS)

    async def call(token: str, action: str, *args: str) -> Response:
        if not _TOKEN.fullmatch(token):
            return _refusal(404, "this link is not valid")
        try:
            result = await run_in_threadpool(getattr(desk, action), token, *args)
        except UnknownToken:
            return _refusal(404, "this link is not valid (no application behind it)")
        except BidderError as exc:
            return _refusal(422, str(exc), exc.field)
        if isinstance(result, bytes):
            return Response(result, media_type="text/plain; charset=utf-8", headers=_HEADERS)
        return _view_json(result)

    @router.get("/{token}", include_in_schema=False)
    async def page(token: str) -> Response:
        view: BidderView | None = None
        if _TOKEN.fullmatch(token):
            try:
                view = await run_in_threadpool(desk.view, token)
            except UnknownToken:
                view = None
        template = _templates.get_template("bidder/page.html" if view else "bidder/unknown.html")
        html = template.render(view=view, prefix=prefix, token=token, sealed=_sealed(view) if view else None)
        return HTMLResponse(html, 200 if view else 404, headers=_HEADERS)

    @router.post("/{token}/key", include_in_schema=False)
    async def key(token: str, request: Request) -> Response:
        try:
            (key_hex,) = await _offer(request, ("key",))
        except BidderError as exc:
            return _refusal(422, str(exc), exc.field)
        return await call(token, "accept_key", key_hex)

    @router.get("/{token}/agreement", include_in_schema=False)
    async def agreement(token: str) -> Response:
        return await call(token, "agreement")

    @router.post("/{token}/signature", include_in_schema=False)
    async def signature(token: str, request: Request) -> Response:
        try:
            certificate, signed = await _offer(request, ("certificate", "signature"))
        except BidderError as exc:
            return _refusal(422, str(exc), exc.field)
        return await call(token, "accept_signature", certificate, signed)

    return router


def _sealed(view: BidderView) -> dict[str, object]:
    return {
        "applyno": view.applyno,
        "applydata": view.applydata,
        "digitalenvelope": view.digitalenvelope,
        "state": view.state.value,
        "readable": dict(view.readable),
    }
