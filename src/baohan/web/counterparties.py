"""The admin API's counterparty actions, protocol-neutral: list, deactivate, reactivate, rotate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from baohan.gm import SM2PublicKey
from baohan.services.registry import Registry
from baohan.services.views import counterparty_view


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

    def act(call: Any) -> dict[str, Any]:
        try:
            return counterparty_view(call())
        except LookupError as exc:
            raise HTTPException(404, detail=str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    @router.get("")
    def list_counterparties(include_inactive: bool = True) -> list[dict[str, Any]]:
        """This protocol's counterparties, without their secrets."""
        return [counterparty_view(item) for item in registry.listing(include_inactive=include_inactive)]

    @router.post("/{counterparty_id}/deactivate")
    def deactivate(counterparty_id: str) -> dict[str, Any]:
        """Refuse its requests and send it nothing more; takes effect in every process within a second."""
        return act(lambda: registry.set_active(counterparty_id, False))

    @router.post("/{counterparty_id}/activate")
    def activate(counterparty_id: str) -> dict[str, Any]:
        """Take a deactivated counterparty back."""
        return act(lambda: registry.set_active(counterparty_id, True))

    @router.post("/{counterparty_id}/rotate")
    def rotate(counterparty_id: str, body: RotationIn) -> dict[str, Any]:
        """Replace its appsecret, public key or appkey."""
        key = SM2PublicKey.load(body.public_key) if body.public_key else None
        return act(
            lambda: registry.rotate(
                counterparty_id, appsecret=body.appsecret, public_key=key, appkey=body.appkey
            )
        )

    return router
