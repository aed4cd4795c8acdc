"""Entry point of the ``baohan`` console script."""

from __future__ import annotations

import sys

import click
import typer

from baohan.cli import gm, procurement, sandbox

app = typer.Typer(
    name="baohan",
    help="baohan: electronic guarantees (电子保函) over the procurement and tender protocols.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(gm.app, name="gm")
app.add_typer(procurement.issuer_app, name="issuer")
app.add_typer(procurement.platform_app, name="platform")
app.add_typer(sandbox.app, name="sandbox")


def main() -> None:
    """Run the CLI; a usage error is one ``error: …`` line on stderr with exit status 2."""
    try:
        result = app(standalone_mode=False)
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
