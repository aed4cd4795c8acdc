"""The admin API's common ground, protocol-neutral: operator tokens (HTTP bearer), paging and
creation-period filters, and the outbox routes (the one error shape is :mod:`baohan.web.errors`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from baohan.services.operators import Operators
from baohan.services.runtime import Runtime
from baohan.services.views import MAX_LIMIT, Period, Window, dead_letters
from baohan.web.errors import AdminError

T = TypeVar("T")
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refused as the input it is, not a 500
Time = Annotated[datetime, Field(description="ISO 8601, Beijing time (+08:00)")]


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="operator_token",  # a component key: letters, digits, . - _ only
    description="An operator's admin token (`baohan admin add-operator NAME` prints one).",
)


def admin_auth(operators: Operators) -> Callable[..., str]:
    """A dependency that demands ``Authorization: Bearer <an operator's token>``; the operator's name is
    then what :func:`operator` gives the routes (for the audit trail)."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> str:
        name = operators.identify(credentials.credentials.strip()) if credentials else None
        if name is None:
            raise AdminError(
                401, "unauthorized", "admin API needs Authorization: Bearer <an operator's token>"
            )
        request.state.operator = name
        return name

    return check


def operator(request: Request) -> str:
    """The operator :func:`admin_auth` let in: the actor recorded in the audit trail."""
    name = getattr(request.state, "operator", None)
    if not isinstance(name, str):
        raise AdminError(401, "unauthorized", "admin API needs Authorization: Bearer <an operator's token>")
    return name


class DeadLetterOut(BaseModel):
    """A notice given up on: past its deadline, or refused for good."""

    id: str
    kind: str
    destination: str
    attempts: int
    last_error: str | None
    created_at: Time


class Page(BaseModel, Generic[T]):
    """One window of a listing: its items, how many the whole listing holds, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class RetriedOut(BaseModel):
    """The dead letter queued again."""

    retried: str


def window(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many items.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Skip this many items first.")] = 0,
) -> Window:
    """The page of a listing asked for (every admin listing takes ``limit`` and ``offset``)."""
    return Window(limit, offset)


def period(
    created_from: Annotated[
        str | None,
        Query(
            description="Created at or after: a date (a Beijing day, 2026-11-30) or an ISO 8601 time with zone."
        ),
    ] = None,
    created_to: Annotated[
        str | None,
        Query(description="Created before this ISO 8601 time, or on or before this date (a Beijing day)."),
    ] = None,
) -> Period:
    """The creation period a listing is kept to; a bare date is a whole Beijing day."""
    try:
        return Period.parse(created_from, created_to)
    except ValueError as exc:
        raise AdminError(422, "invalid", str(exc)) from None


def outbox_router(runtime: Runtime) -> APIRouter:
    """The runtime's outbox for operators: its dead letters, and putting one back in the queue."""
    router = APIRouter(prefix="/outbox")

    @router.get("/dead")
    def dead(
        page: Annotated[Window, Depends(window)],
        created: Annotated[Period, Depends(period)],
        destination: Annotated[str | None, Query(max_length=128, pattern=NO_NUL)] = None,
        kind: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    ) -> Page[DeadLetterOut]:
        """Messages given up on, oldest first: past their deadline, or refused for good."""
        found = dead_letters(runtime.sessions, page, destination=destination, kind=kind, period=created)
        return Page[DeadLetterOut].model_validate(found.plain())

    @router.post("/{message_id}/retry")
    def retry(message_id: str) -> RetriedOut:
        """Queue a dead letter again, due now, with a new deadline."""
        try:
            runtime.retry_dead(message_id)
        except LookupError as exc:
            raise AdminError(404, "not_found", str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise AdminError(409, "conflict", str(exc)) from None
        return RetriedOut(retried=message_id)

    return router
