"""``baohan bidder``: the bidder's side of a sealed tender application, on the bidder's own machine.

``open`` opens the digital envelope with the bidder certificate's private key and prints K (hex, on the
first line: what the bidder page's "paste the key" box takes) and the application's JSON (the bid
section's fields still sealed). ``sign`` signs the application agreement the page offers for download
(SM3withSM2, user ID 1234567812345678) and prints the Base64 DER signature. The key never leaves here.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated

import typer

from baohan.cli.inputs import CLIError, one_line_errors
from baohan.gm import GMError, SM2PrivateKey
from baohan.protocols.tender.bidder import BidderError, accept_opened_key
from baohan.protocols.tender.sealing import SealingError, open_envelope

app = typer.Typer(
    help="The bidder's side of a tender application: open the sealed application, sign the agreement.",
    no_args_is_help=True,
)

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key", help="Your bidder certificate's SM2 private key: a PEM (PKCS#8 or SEC1), DER or 64-hex file."
    ),
]


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CLIError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None


def _text(path: Path, option: str) -> str:
    try:
        return _read(path, option).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CLIError(f"{option}: {path} is not UTF-8 text") from None


def _key(path: Path) -> SM2PrivateKey:
    blob = _read(path, "--key")
    try:
        text = blob.decode("ascii").strip()
    except UnicodeDecodeError:
        text = None  # DER
    try:
        return SM2PrivateKey.load(blob if text is None else text)
    except GMError as exc:
        raise CLIError(f"--key: {path}: {exc}") from None


@app.command("open")
@one_line_errors
def open_(
    applydata: Annotated[Path, typer.Option("--applydata", help="A file holding applydata (Base64).")],
    envelope: Annotated[
        str, typer.Option("--envelope", help="digitalenvelope (Base64 or hex), or a file holding it.")
    ],
    key: KeyFile,
) -> None:
    """Open the application sealed for your certificate: print K (hex), then the application's JSON."""
    own = _key(key)
    path = Path(envelope)
    sealed_key = _text(path, "--envelope") if len(envelope) < 4096 and path.is_file() else envelope.strip()
    try:
        k = open_envelope(sealed_key, own)
        opened = accept_opened_key(_text(applydata, "--applydata"), k.hex())
    except SealingError as exc:
        raise CLIError(f"--envelope: {exc}") from None
    except BidderError as exc:
        raise CLIError(f"--applydata: {exc}") from None
    typer.echo(opened.key.hex())
    typer.echo(json.dumps(dict(opened.fields), ensure_ascii=False, indent=2))


@app.command("sign")
@one_line_errors
def sign(
    agreement: Annotated[
        Path,
        typer.Option(
            "--agreement", help="The agreement file as the bidder page offers it (its exact bytes)."
        ),
    ],
    key: KeyFile,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the signature here instead of printing it.")
    ] = None,
) -> None:
    """Sign the application agreement (SM3withSM2, DER); print the Base64 signature for the page."""
    text = _read(agreement, "--agreement")
    if not text:
        raise CLIError(f"--agreement: {agreement} is empty")
    signature = base64.b64encode(_key(key).sign(text)).decode("ascii")
    if out is None:
        typer.echo(signature)
        return
    try:
        out.write_text(signature + "\n", encoding="ascii")
    except OSError as exc:
        raise CLIError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
