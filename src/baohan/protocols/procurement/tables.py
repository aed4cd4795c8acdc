"""The length limits of spec 000 §10, message by message, exactly as printed: what we send is held to these.

The models (``models.py``) take each datum's longest limit anywhere, so that whatever we receive can be
stored; a message we *send* must fit its own table, which is often tighter (applicationId is 64 in
ELY101/ELY109 but 32 in ELY102/ELY103; guaranteeId 32 in ELY105; companyName 50 in ELY102 ...). A
counterparty's profile may widen a limit (``limits``, keyed ``ELY102.companyName``) for a peer known to
accept longer values. Only free text is listed: codes, amounts, dates and Base64 have their own formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement.models import parse_request, parse_response_data

# Response data of ELY103/ELY104 are keyed "ELY103.data"/"ELY104.data"; requests by their transcode.
SPEC_LIMITS: Final[Mapping[str, Mapping[str, int]]] = {
    "ELY101": {
        "applicationId": 64,
        "supplier": 256,
        "socialCreditCode": 18,
        "legalName": 20,
        "legalIdNo": 18,
        "supplierAddress": 256,
        "contacts": 20,
        "contactsWay": 20,
        "contractCerNo": 18,
        "mailAddress": 256,
        "projectCode": 128,
        "projectName": 256,
        "bidCode": 256,
        "bidName": 256,
        "purchaseName": 256,
        "purchaseSocCode": 64,
        "ext1": 256,
        "ext2": 256,
        "ext3": 256,
    },
    "ELY102": {"applicationId": 32, "failReason": 255, "guaranteeId": 64, "companyName": 50},
    "ELY103": {"applicationId": 32},
    "ELY103.data": {"guaranteeFileName": 255},
    "ELY104": {"guaranteeId": 64},
    "ELY104.data": {"guaranteeId": 64, "certNum": 150, "certOwner": 100, "certAuthor": 100},
    "ELY105": {
        "guaranteeId": 32,
        "bidNum": 128,
        "projectName": 128,
        "projectCode": 50,
        "companyName": 255,
        "socialCreditCode": 64,
        "purchaseName": 256,
        "purchaseSocCode": 64,
        "claimReason": 255,
        "openBank": 255,
        "bankAccount": 255,
        "contract": 255,
        "contractWay": 50,
        "contractCertCode": 18,
    },
    "ELY106": {"guaranteeId": 64, "paymentBeneficiary": 25, "paymentBeneficiarySocial": 64},
    "ELY107": {"guaranteeId": 64, "remark": 1024},
    "ELY108": {"guaranteeId": 64, "cancelNotice": 200},
    "ELY109": {"applicationId": 64, "refundReason": 1000},
}

# Where a datum of an ELY101 comes back in a later message (field → the tables and fields carrying it).
# Whoever accepts the ELY101 refuses what cannot travel back (README, "What we send"), unless the
# counterparty's profile widens the later table.
ISSUER_ECHOES: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    # The issuer's ELY102 notices.
    "applicationId": (("ELY102", "applicationId"),),
    "supplier": (("ELY102", "companyName"),),
}
PLATFORM_ECHOES: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    # The platform's ELY103 (the file fetch) and ELY105 (a claim); ELY109 takes 64, as ELY101.
    "applicationId": (("ELY103", "applicationId"),),
    "supplier": (("ELY105", "companyName"),),
    "projectCode": (("ELY105", "projectCode"),),
    "projectName": (("ELY105", "projectName"),),
    "bidCode": (("ELY105", "bidNum"),),
}


def limit_of(table: str, field: str, widened: Mapping[str, int] | None = None) -> int:
    """The length limit of ``field`` in ``table`` (``ELY102`` or ``ELY104.data``), as a profile may widen it."""
    return (widened or {}).get(f"{table}.{field}", SPEC_LIMITS[table][field])


def check_lengths(table: str, payload: Mapping[str, Any], widened: Mapping[str, int] | None = None) -> None:
    """MessageInvalid naming the first text field of ``payload`` longer than ``table`` allows."""
    for field, default in SPEC_LIMITS[table].items():
        value = payload.get(field)
        if isinstance(value, str):
            limit = (widened or {}).get(f"{table}.{field}", default)
            if len(value) > limit:
                raise MessageInvalid(field, too_long(table, field, limit, len(value)))


def too_long(table: str, field: str, limit: int, got: int) -> str:
    """The rule broken by a value of ``got`` characters where ``table`` allows ``limit``."""
    return (
        f"must be at most {limit} characters in {table.removesuffix('.data')}, got {got} "
        f"(a counterparty's profile may widen it: limits {table}.{field})"
    )


def check_echoes(
    payload: Mapping[str, Any],
    echoes: Mapping[str, tuple[tuple[str, str], ...]],
    widened: Mapping[str, int] | None = None,
) -> None:
    """MessageInvalid naming the first field of an accepted ``payload`` too long for a message carrying it back."""
    for field, carriers in echoes.items():
        value = payload.get(field)
        if not isinstance(value, str):
            continue
        for table, carried_as in carriers:
            limit = limit_of(table, carried_as, widened)
            if len(value) > limit:
                raise MessageInvalid(
                    field,
                    f"must be at most {limit} characters: {table} carries it back as {carried_as}, got "
                    f"{len(value)} (a counterparty's profile may widen it: limits {table}.{carried_as})",
                )


def check_outgoing(
    transcode: str,
    payload: Mapping[str, Any],
    widened: Mapping[str, int] | None = None,
    *,
    response: bool = False,
) -> None:
    """MessageInvalid naming the first field of a message we are about to send (its request, or its
    response data when ``response``) that breaks its own table: formats, conditions and lengths."""
    if response:
        parse_response_data(transcode, dict(payload))
        check_lengths(f"{transcode}.data", payload, widened)
    else:
        parse_request(transcode, dict(payload))
        check_lengths(transcode, payload, widened)
