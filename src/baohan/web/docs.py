"""The admin API's docs page (Swagger UI) served from an installed package, never from a CDN: an
institution's intranet reaches no outside host."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# The Swagger UI and its stylesheet as the fastapi-offline package ships them (pip installs them with it).
ASSETS = files("fastapi_offline") / "static"
ASSETS_PATH = "/docs/assets"


def offline_docs(app: FastAPI, path: str = "/docs") -> None:
    """Serve ``app``'s Swagger UI at ``path``, its scripts and styles from the package, its spec from
    ``app.openapi_url``; the online validator badge (an outside host) is switched off."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(path, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} – API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )
