"""The admin API's counterparty actions, protocol-neutral: list, deactivate, reactivate, rotate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from baohan.gm import SM2PublicKey
from baohan.services.registry import Registry
from baohan.services.views import Window, counterparty_page, counterparty_view
from baohan.web.admin import Page, Time, window
from baohan.web.errors import AdminError


class CounterpartyOut(BaseModel):
    """A counterparty as operators see it: never a secret."""

    id: str
    protocol: str
    role: str = Field(description="the counterparty's role, e.g. platform or institution")
    name: str
    appid: str
    appkey: str
    public_key: str = Field(description="SM2 public key, 04‖X‖Y hex")
    endpoint_url: str | None
    active: bool
    created_at: Time


class RotationIn(BaseModel):
    """New credentials for a counterparty; give at least one."""

    appsecret: str | None = Field(default=None, min_length=1, max_length=256)
    public_key: str | None = Field(default=None, description="SM2 public key: 04‖X‖Y hex, Base64 or PEM")
    appkey: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                SM2PublicKey.load(value)
            except ValueError as exc:
                raise ValueError(f"not an SM2 public key: {exc}") from None
        return value


def counterparty_router(registry: Registry[Any]) -> APIRouter:
    """``/counterparties`` routes for ``registry``'s protocol (mounted under the admin prefix and its auth)."""
    router = APIRouter(prefix="/counterparties")

    def act(call: Any) -> CounterpartyOut:
        try:
            return CounterpartyOut.model_validate(counterparty_view(call()))
        except LookupError as exc:
            raise AdminError(404, "not_found", str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise AdminError(422, "invalid", str(exc)) from None

    @router.get("")
    def list_counterparties(
        page: Annotated[Window, Depends(window)], include_inactive: bool = True
    ) -> Page[CounterpartyOut]:
        """This protocol's counterparties, oldest first, without their secrets."""
        listed = counterparty_page(registry.listing(include_inactive=include_inactive), page)
        return Page[CounterpartyOut].model_validate(listed.plain())

    @router.post("/{counterparty_id}/deactivate")
    def deactivate(counterparty_id: str) -> CounterpartyOut:
        """Refuse its requests and send it nothing more; takes effect in every process within a second."""
        return act(lambda: registry.set_active(counterparty_id, False))

    @router.post("/{counterparty_id}/activate")
    def activate(counterparty_id: str) -> CounterpartyOut:
        """Take a deactivated counterparty back."""
        return act(lambda: registry.set_active(counterparty_id, True))

    @router.post("/{counterparty_id}/rotate")
    def rotate(counterparty_id: str, body: RotationIn) -> CounterpartyOut:
        """Replace its appsecret, public key or appkey."""
        key = SM2PublicKey.load(body.public_key) if body.public_key else None
        return act(
            lambda: registry.rotate(
                counterparty_id, appsecret=body.appsecret, public_key=key, appkey=body.appkey
            )
        )

    return router
