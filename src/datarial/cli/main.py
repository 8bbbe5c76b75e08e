"""Entry point of the ``datarial`` command.

User mistakes (a :class:`~datarial.errors.DatarialError` or a usage error)
print one line on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import sys

import click

from datarial.cli import campaign as campaign_commands
from datarial.cli import magnet as magnet_commands
from datarial.cli import micro as micro_commands
from datarial.cli import server as server_commands
from datarial.cli import sinter as sinter_commands
from datarial.errors import DatarialError


@click.group(name="datarial", no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="datarial")
def app() -> None:
    """Data-driven materials process design: shared experiment database and Bayesian optimization."""


campaign_commands.register(app)
magnet_commands.register(app)
micro_commands.register(app)
server_commands.register(app)
sinter_commands.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error)."""
    try:
        app.main(args=argv if argv is not None else sys.argv[1:], prog_name="datarial", standalone_mode=False)
    except DatarialError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx else ""
        click.echo(f"error: {where}{exc.format_message()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
