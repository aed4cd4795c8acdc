"""Reading CLI arguments: positional text or ``-`` for stdin, keys as hex/Base64/file, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer

from baohan.gm import SM2PrivateKey, SM2PublicKey
from baohan.gm.codec import decode
from baohan.gm.errors import GMError

# The options and arguments every operator command spells the same way.
Db = Annotated[
    str, typer.Option("--db", envvar="BAOHAN_DB", help="Database URL (sqlite:///… or postgresql://…).")
]
Limit = Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many.")]
Offset = Annotated[int, typer.Option(min=0, help="Skip this many first.")]
TenderKey = Annotated[str, typer.Argument(help="The application: our id, its applyno or its baohanno.")]

P = ParamSpec("P")
R = TypeVar("R")
InEncoding = Literal["utf8", "hex", "base64", "auto"]


class CLIError(Exception):
    """A bad argument; the message is printed as one line and the exit status is 2."""


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn any expected failure into ``error: …`` on stderr and exit status 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (GMError, CLIError, OSError, UnicodeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def read_text(arg: str | None) -> str:
    """The positional argument, or standard input when it is ``-`` or absent."""
    if arg is None or arg == "-":
        return sys.stdin.read()
    return arg


def read_bytes(arg: str | None, encoding: InEncoding, what: str) -> bytes:
    """Bytes of the positional argument (or stdin) in ``encoding``; ``utf8`` takes stdin's bytes as they are."""
    if encoding == "utf8":
        if arg is None or arg == "-":
            return sys.stdin.buffer.read()
        return arg.encode("utf-8")
    return decode(read_text(arg).strip(), encoding, what)


def _key_source(value: str) -> str | bytes:
    path = Path(value)
    if len(value) < 4096 and path.is_file():
        return path.read_bytes()
    return value


def private_key(value: str) -> SM2PrivateKey:
    """An SM2 private key from hex, Base64, or a PEM/DER file path."""
    return SM2PrivateKey.load(_key_source(value))


def public_key(value: str) -> SM2PublicKey:
    """An SM2 public key from hex, Base64, or a PEM/DER key or certificate file path."""
    return SM2PublicKey.load(_key_source(value))


def file_or_text(value: str) -> str | bytes:
    """The contents of ``value`` when it names a file, else ``value`` itself; ``-`` reads stdin."""
    if value == "-":
        return sys.stdin.buffer.read()
    return _key_source(value)


def emit_bytes(data: bytes, encoding: Literal["utf8", "hex", "base64"]) -> None:
    """Print ``data`` as UTF-8 text, hex or Base64; undecodable UTF-8 is an error suggesting --out hex."""
    if encoding == "utf8":
        try:
            typer.echo(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise CLIError("plaintext is not UTF-8 text; use --out hex or --out base64") from None
        return
    from baohan.gm.codec import encode

    typer.echo(encode(data, encoding))


def write_secret(path: Path, text: str) -> None:
    """Write a private key file readable by its owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="ascii")


def http_url(value: str, option: str) -> str:
    """``value`` if it is an http:// or https:// URL with a host; CLIError naming ``option`` otherwise."""
    import httpx  # only the commands that take a URL pay for it

    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise CLIError(f"{option}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise CLIError(f"{option} must be an http:// or https:// URL, not {value!r}")
    return value


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout, Chinese as is (what every operator command prints)."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def decimal_option(option: str, text: str, example: str) -> Decimal:
    """``text`` as a finite Decimal; CLIError naming ``option`` and showing ``example`` otherwise."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise CLIError(f"{option} {text!r} is not a decimal number like {example}")
    return value
