"""Entry point of the ``baohan`` console script."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import click
import typer

from baohan import __version__

# Each command group loads only when asked for: `baohan gm sm3` should not pay for the web stack.
COMMANDS: dict[str, tuple[str, str]] = {
    "gm": ("baohan.cli.gm", "app"),
    "issuer": ("baohan.cli.procurement", "issuer_app"),
    "platform": ("baohan.cli.procurement", "platform_app"),
    "counterparties": ("baohan.cli.counterparties", "app"),
    "admin": ("baohan.cli.operators", "app"),
    "sandbox": ("baohan.cli.sandbox", "app"),
    "serve": ("baohan.cli.serve", "app"),
    "dispatch": ("baohan.cli.dispatch", "app"),
    "demo": ("baohan.cli.demo", "app"),
    "db": ("baohan.cli.db", "app"),
    "bidder": ("baohan.cli.bidder", "app"),
    "tender-platform": ("baohan.cli.tender_platform", "app"),
    "tender-issuer": ("baohan.cli.tender_issuer", "app"),
}


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"baohan {__version__}")
        raise typer.Exit()


def build(argv: list[str]) -> typer.Typer:
    """The CLI with the group named in ``argv`` (or, for help and errors, every group)."""
    app = typer.Typer(
        name="baohan",
        help="baohan: electronic guarantees (电子保函) over the procurement and tender protocols.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _options(
        version: Annotated[
            bool,
            typer.Option(
                "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
            ),
        ] = False,
    ) -> None:
        """baohan: electronic guarantees (电子保函) over the procurement and tender protocols."""

    wanted = argv[1] if len(argv) > 1 and argv[1] in COMMANDS else None
    for name, (module, attribute) in COMMANDS.items():
        if wanted in (None, name):
            app.add_typer(getattr(importlib.import_module(module), attribute), name=name)
    return app


def main() -> None:
    """Run the CLI; a usage error is one ``error: …`` line on stderr with exit status 2."""
    try:
        result = build(sys.argv)(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message())
        sys.exit(2)
    except click.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
