"""Spec 004's interfaces: who serves each, its request model, its answer's ``data`` model, and the fields
that name one request for replay; and each request's table (limits and required flags) as the models
hold it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from baohan.protocols.fields import WireModel
from baohan.protocols.tender import models

Role = Literal["issuer", "platform"]


@dataclass(frozen=True, slots=True)
class Interface:
    """One interface: its wire name, the role that serves it, its models and its replay key's fields."""

    name: str
    served_by: Role
    request: type[models.TenderRequest]
    data: type[WireModel] | None = None
    # Which fields make one request: slices of a file share an applyno, each upload has its own index.
    key: tuple[str, ...] = ("applyno",)


_ALL = (
    Interface("baohanapply", "issuer", models.BaohanApply, models.RedirectData),
    Interface("baohannotice", "platform", models.BaohanNotice),
    Interface("downloadpublickey", "platform", models.DownloadPublicKey, models.PublicKeyData),
    Interface("uploadbaohanfile", "platform", models.UploadBaohanFile, key=("applyno", "filetype", "index")),
    Interface(
        "baohanfilecompletenotice", "platform", models.BaohanFileCompleteNotice, key=("applyno", "filetype")
    ),
    Interface("baohanrestore", "issuer", models.BaohanRestore),
    Interface("invoiceapply", "issuer", models.InvoiceApply),
    Interface("invoicenotice", "platform", models.InvoiceNotice, key=("baohanno",)),
    Interface("quitapply", "issuer", models.QuitApply),
    Interface("quitnotice", "platform", models.QuitNotice),
    Interface("canclenotice", "issuer", models.CancelNotice),
    Interface("claimsnotice", "issuer", models.ClaimsNotice),
    Interface("giveupapply", "issuer", models.GiveUpApply),
    Interface("giveupnotice", "platform", models.GiveUpNotice),
)
INTERFACES: Final[Mapping[str, Interface]] = {interface.name: interface for interface in _ALL}
ISSUER_SERVES: Final = frozenset(i.name for i in _ALL if i.served_by == "issuer")
PLATFORM_SERVES: Final = frozenset(i.name for i in _ALL if i.served_by == "platform")


def table(model: type[WireModel]) -> dict[str, tuple[int | None, bool]]:
    """Each field of ``model`` with its limit in characters (None: a format or no limit) and whether it
    is required, as the spec prints the table."""
    out: dict[str, tuple[int | None, bool]] = {}
    for name, info in model.model_fields.items():
        limit = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
        out[info.alias or name] = (limit, info.is_required())
    return out
