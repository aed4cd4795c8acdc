"""``baohan gm``: the integrator's pocket knife for SM2, SM3, SM4, envelopes and SM2 certificates."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from baohan.cli.inputs import (
    CLIError,
    emit_bytes,
    file_or_text,
    one_line_errors,
    private_key,
    public_key,
    read_bytes,
    read_text,
    write_secret,
)
from baohan.gm import (
    DEFAULT_UID,
    Envelope,
    Layout,
    SM2Certificate,
    SM2PrivateKey,
    SM3Hasher,
    SM4Mode,
    issue_certificate,
    make_ca,
    open_envelope,
    seal,
    sm4_decrypt,
    sm4_encrypt,
)
from baohan.gm.codec import decode, encode, from_hex
from baohan.gm.errors import CertificateError

app = typer.Typer(help="SM2 / SM3 / SM4, digital envelopes and SM2 certificates.", no_args_is_help=True)
cert_app = typer.Typer(
    help="SM2 certificates: a test CA, end-entity certificates, inspection.", no_args_is_help=True
)
app.add_typer(cert_app, name="cert")


class PlainIn(StrEnum):
    utf8 = "utf8"
    hex = "hex"
    base64 = "base64"


class CipherIn(StrEnum):
    auto = "auto"
    hex = "hex"
    base64 = "base64"


class BinOut(StrEnum):
    hex = "hex"
    base64 = "base64"


class PlainOut(StrEnum):
    utf8 = "utf8"
    hex = "hex"
    base64 = "base64"


class EncLayout(StrEnum):
    c1c3c2 = "c1c3c2"
    c1c2c3 = "c1c2c3"
    asn1 = "asn1"


class DecLayout(StrEnum):
    auto = "auto"
    c1c3c2 = "c1c3c2"
    c1c2c3 = "c1c2c3"
    asn1 = "asn1"


class Mode(StrEnum):
    ecb = "ecb"
    cbc = "cbc"


Input = Annotated[str | None, typer.Argument(help="The input, or - (or nothing) to read standard input.")]
PrivKey = Annotated[str, typer.Option("--private-key", help="Hex, Base64, or a PEM/DER file.")]
PubKey = Annotated[
    str, typer.Option("--public-key", help="Hex (04…, X‖Y, compressed), Base64, or a PEM/DER file.")
]
Uid = Annotated[str, typer.Option("--uid", help="SM2 user ID.")]
_UID = DEFAULT_UID.decode()


@app.command()
@one_line_errors
def keygen(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Generate an SM2 key pair: private key (hex) and public key (04… hex)."""
    key = SM2PrivateKey.generate()
    if as_json:
        typer.echo(json.dumps({"private_key": key.to_hex(), "public_key": key.public_key.to_hex()}))
    else:
        typer.echo(f"private_key={key.to_hex()}\npublic_key={key.public_key.to_hex()}")


@app.command("sm2-encrypt")
@one_line_errors
def sm2_encrypt(
    public_key_: PubKey,
    text: Input = None,
    layout: Annotated[EncLayout, typer.Option(help="Ciphertext layout.")] = EncLayout.c1c3c2,
    no_prefix: Annotated[
        bool, typer.Option("--no-prefix", help="Drop the 04 point prefix (raw layouts).")
    ] = False,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the plaintext is given.")] = PlainIn.utf8,
    out: Annotated[BinOut, typer.Option(help="How the ciphertext is printed.")] = BinOut.base64,
) -> None:
    """SM2-encrypt a message of any length."""
    data = read_bytes(text, in_.value, "plaintext")
    ct = public_key(public_key_).encrypt(data, layout=Layout(layout.value), prefix=not no_prefix)
    typer.echo(encode(ct, out.value))


@app.command("sm2-decrypt")
@one_line_errors
def sm2_decrypt(
    private_key_: PrivKey,
    ciphertext: Input = None,
    layout: Annotated[DecLayout, typer.Option(help="Ciphertext layout; auto tries each.")] = DecLayout.auto,
    in_: Annotated[CipherIn, typer.Option("--in", help="How the ciphertext is given.")] = CipherIn.auto,
    out: Annotated[PlainOut, typer.Option(help="How the plaintext is printed.")] = PlainOut.utf8,
) -> None:
    """Decrypt an SM2 ciphertext; the layout is detected by the C3 digest unless given."""
    data = decode(read_text(ciphertext).strip(), in_.value, "ciphertext")
    emit_bytes(private_key(private_key_).decrypt(data, layout=layout.value), out.value)


@app.command("sm2-sign")
@one_line_errors
def sm2_sign(
    private_key_: PrivKey,
    text: Input = None,
    uid: Uid = _UID,
    raw: Annotated[bool, typer.Option("--raw", help="Raw r‖s (64 bytes) instead of DER.")] = False,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the message is given.")] = PlainIn.utf8,
) -> None:
    """SM3withSM2 signature of the message, printed in Base64."""
    data = read_bytes(text, in_.value, "message")
    sig = private_key(private_key_).sign(data, uid=uid, fmt="raw" if raw else "der")
    typer.echo(encode(sig, "base64"))


@app.command("sm2-verify")
@one_line_errors
def sm2_verify(
    public_key_: PubKey,
    signature: Annotated[str, typer.Option("--signature", help="DER or raw r‖s, Base64 or hex.")],
    text: Input = None,
    uid: Uid = _UID,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the message is given.")] = PlainIn.utf8,
) -> None:
    """Check a signature: prints "valid" (exit 0) or "invalid" (exit 1)."""
    key = public_key(public_key_)
    sig = decode(signature.strip(), "auto", "signature")
    data = read_bytes(text, in_.value, "message")
    if key.verify(data, sig, uid=uid):
        typer.echo("valid")
        return
    typer.echo("invalid")
    raise typer.Exit(1)


@app.command("sm3")
@one_line_errors
def sm3_cmd(
    text: Input = None,
    hmac_key: Annotated[str | None, typer.Option("--hmac-key", help="HMAC-SM3 with this UTF-8 key.")] = None,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the input is given.")] = PlainIn.utf8,
) -> None:
    """SM3 digest (or HMAC-SM3) in lowercase hex; standard input is hashed in constant memory."""
    import sys

    hasher = SM3Hasher(hmac_key.encode("utf-8") if hmac_key is not None else None)
    if in_ is PlainIn.utf8 and text in (None, "-"):
        while chunk := sys.stdin.buffer.read(1 << 20):
            hasher.update(chunk)
    else:
        hasher.update(read_bytes(text, in_.value, "input"))
    typer.echo(hasher.hexdigest())


def _sm4_params(key: str, mode: Mode, iv: str | None) -> tuple[bytes, SM4Mode, bytes | None]:
    k = from_hex(key, "--key")
    if mode is Mode.cbc and iv is None:
        raise CLIError("--iv (32 hex digits) is required with --mode cbc")
    if mode is Mode.ecb and iv is not None:
        raise CLIError("--iv is only for --mode cbc")
    return k, SM4Mode(mode.value), from_hex(iv, "--iv") if iv is not None else None


SM4Key = Annotated[str, typer.Option("--key", help="16-byte key as 32 hex digits.")]
SM4Iv = Annotated[str | None, typer.Option("--iv", help="16-byte iv as 32 hex digits (cbc).")]
NoPad = Annotated[bool, typer.Option("--no-padding", help="No PKCS#7 padding: whole 16-byte blocks only.")]


@app.command("sm4-encrypt")
@one_line_errors
def sm4_encrypt_cmd(
    key: SM4Key,
    data: Input = None,
    mode: Annotated[Mode, typer.Option(help="Block mode.")] = Mode.ecb,
    iv: SM4Iv = None,
    no_padding: NoPad = False,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the plaintext is given.")] = PlainIn.utf8,
    out: Annotated[BinOut, typer.Option(help="How the ciphertext is printed.")] = BinOut.base64,
) -> None:
    """SM4-encrypt (PKCS#7 padding unless --no-padding)."""
    k, m, v = _sm4_params(key, mode, iv)
    typer.echo(
        encode(sm4_encrypt(k, read_bytes(data, in_.value, "plaintext"), m, v, pad=not no_padding), out.value)
    )


@app.command("sm4-decrypt")
@one_line_errors
def sm4_decrypt_cmd(
    key: SM4Key,
    data: Input = None,
    mode: Annotated[Mode, typer.Option(help="Block mode.")] = Mode.ecb,
    iv: SM4Iv = None,
    no_padding: NoPad = False,
    in_: Annotated[CipherIn, typer.Option("--in", help="How the ciphertext is given.")] = CipherIn.auto,
    out: Annotated[PlainOut, typer.Option(help="How the plaintext is printed.")] = PlainOut.utf8,
) -> None:
    """SM4-decrypt; a wrong key or corrupted data is reported, not printed as garbage."""
    k, m, v = _sm4_params(key, mode, iv)
    ct = decode(read_text(data).strip(), in_.value, "ciphertext")
    emit_bytes(sm4_decrypt(k, ct, m, v, pad=not no_padding), out.value)


@app.command("envelope-seal")
@one_line_errors
def envelope_seal(
    public_key_: PubKey,
    data: Input = None,
    layout: Annotated[EncLayout, typer.Option(help="Layout of the SM2-sealed key.")] = EncLayout.c1c3c2,
    no_prefix: Annotated[bool, typer.Option("--no-prefix", help="Drop the 04 point prefix.")] = False,
    sm4_mode: Annotated[Mode, typer.Option("--sm4-mode", help="SM4 mode for the payload.")] = Mode.ecb,
    in_: Annotated[PlainIn, typer.Option("--in", help="How the payload is given.")] = PlainIn.utf8,
) -> None:
    """Seal a payload in a digital envelope; prints {"data": Base64, "sign": Base64}."""
    env = seal(
        read_bytes(data, in_.value, "payload"),
        public_key(public_key_),
        layout=layout.value,
        prefix=not no_prefix,
        sm4_mode=sm4_mode.value,
    )
    typer.echo(json.dumps({"data": encode(env.data, "base64"), "sign": encode(env.sealed_key, "base64")}))


@app.command("envelope-open")
@one_line_errors
def envelope_open(
    private_key_: PrivKey,
    envelope: Annotated[
        str | None,
        typer.Argument(
            help='{"data": …, "sign": …} as envelope-seal prints it, or the data alone with --sign; - for stdin.'
        ),
    ] = None,
    sign: Annotated[str | None, typer.Option("--sign", help="The sealed key (Base64 or hex).")] = None,
    layout: Annotated[DecLayout, typer.Option(help="Layout of the sealed key.")] = DecLayout.auto,
    sm4_mode: Annotated[Mode, typer.Option("--sm4-mode", help="SM4 mode of the payload.")] = Mode.ecb,
    out: Annotated[PlainOut, typer.Option(help="How the payload is printed.")] = PlainOut.utf8,
) -> None:
    """Open a digital envelope and print its payload."""
    text = read_text(envelope).strip()
    if sign is None:
        try:
            obj = json.loads(text)
            data_text, sign_text = obj["data"], obj["sign"]
        except (ValueError, KeyError, TypeError):
            raise CLIError('envelope must be JSON {"data": …, "sign": …}, or pass --sign') from None
    else:
        data_text, sign_text = text, sign
    env = Envelope(
        data=decode(str(data_text), "auto", "data"), sealed_key=decode(str(sign_text), "auto", "sign")
    )
    emit_bytes(
        open_envelope(env, private_key(private_key_), layout=layout.value, sm4_mode=sm4_mode.value), out.value
    )


def _write_or_print(
    cert: SM2Certificate, key: SM2PrivateKey | None, out_cert: Path | None, out_key: Path | None
) -> None:
    if out_cert is not None:
        out_cert.write_text(cert.to_pem(), encoding="ascii")
        typer.echo(f"certificate written to {out_cert} (serial {cert.info().serial})")
    else:
        typer.echo(cert.to_pem(), nl=False)
    if key is None:
        return
    if out_key is not None:
        write_secret(out_key, key.to_pem())
        typer.echo(f"private key written to {out_key} (mode 0600)")
    else:
        typer.echo(key.to_pem(), nl=False)


Subject = Annotated[
    str, typer.Option("--subject", help='Distinguished name, e.g. "CN=Test CA,O=baohan,C=CN".')
]
Days = Annotated[int, typer.Option("--days", min=1, help="Validity in days.")]
OutCert = Annotated[Path | None, typer.Option("--out-cert", help="Write the certificate PEM here.")]
OutKey = Annotated[
    Path | None, typer.Option("--out-key", help="Write a generated private key PEM here (0600).")
]


@cert_app.command("make-ca")
@one_line_errors
def cert_make_ca(
    subject: Subject,
    days: Days = 3650,
    key: Annotated[str | None, typer.Option("--key", help="CA private key; generated when absent.")] = None,
    out_cert: OutCert = None,
    out_key: OutKey = None,
) -> None:
    """Create a self-signed SM2 test CA (prints certificate and, if generated, key as PEM)."""
    ca_key = private_key(key) if key is not None else SM2PrivateKey.generate()
    _write_or_print(make_ca(subject, ca_key, days=days), ca_key if key is None else None, out_cert, out_key)


@cert_app.command("issue")
@one_line_errors
def cert_issue(
    ca_cert: Annotated[str, typer.Option("--ca-cert", help="CA certificate file (PEM/DER).")],
    ca_key: Annotated[str, typer.Option("--ca-key", help="CA private key: hex, Base64 or file.")],
    subject: Subject,
    public_key_: Annotated[
        str | None,
        typer.Option("--public-key", help="Certify this key; a key pair is generated when absent."),
    ] = None,
    days: Days = 730,
    out_cert: OutCert = None,
    out_key: OutKey = None,
) -> None:
    """Issue an end-entity SM2 certificate signed by the CA."""
    ca = SM2Certificate.load(file_or_text(ca_cert))
    new_key = SM2PrivateKey.generate() if public_key_ is None else None
    subject_key = new_key.public_key if new_key is not None else public_key(str(public_key_))
    cert = issue_certificate(ca, private_key(ca_key), subject, subject_key, days=days)
    _write_or_print(cert, new_key, out_cert, out_key)


@cert_app.command("show")
@one_line_errors
def cert_show(
    cert: Annotated[str, typer.Argument(help="Certificate file (PEM/DER), PEM text, or - for stdin.")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a certificate's serial number, subject, issuer, validity and key."""
    info = SM2Certificate.load(file_or_text(cert)).info().as_dict()
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    width = max(len(k) for k in info)
    for name, value in info.items():
        typer.echo(f"{name.ljust(width)}  {value}")


@cert_app.command("verify")
@one_line_errors
def cert_verify(
    cert: Annotated[str, typer.Argument(help="Certificate file (PEM/DER) or - for stdin.")],
    ca_cert: Annotated[str, typer.Option("--ca-cert", help="The issuing CA certificate.")],
) -> None:
    """Check that the CA issued the certificate and that it is valid now: "valid" (0) or "invalid: why" (1)."""
    from datetime import UTC, datetime

    leaf, ca = SM2Certificate.load(file_or_text(cert)), SM2Certificate.load(file_or_text(ca_cert))
    try:
        leaf.verify_issued_by(ca, at=datetime.now(UTC))
    except CertificateError as exc:
        typer.echo(f"invalid: {exc}")
        raise typer.Exit(1) from None
    typer.echo("valid")
