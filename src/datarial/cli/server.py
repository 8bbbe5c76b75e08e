"""``datarial serve`` (REST API + browser UI) and ``datarial token`` (access tokens)."""

from __future__ import annotations

import click

from datarial.cli.output import console
from datarial.errors import DatarialError

DEFAULT_PORT = 8050


def serve_app(db: str | None, host: str, port: int, token: str | None, ui: bool = True) -> None:
    """Build the app and run it with uvicorn until interrupted."""
    import uvicorn

    from datarial.server.app import create_app
    from datarial.server.auth import check_bind
    from datarial.store import Store

    check_bind(host, token)
    store = Store(db)
    app = create_app(store, token=token, ui=ui)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"datarial serving {store.safe_url}")
    console.print(f"  browser UI:  http://{shown}:{port}/")
    console.print(f"  REST API:    http://{shown}:{port}/api/v1  (OpenAPI schema at /openapi.json, docs at /docs)")
    console.print("  access:      " + ("token required (Authorization: Bearer ...)" if token
                                      else "open to this machine only (no token)"))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except OSError as exc:
        raise DatarialError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})") from None


@click.command("serve")
@click.option("--db", default=None, help="Database URL or SQLite file (default: DATARIAL_DB or ./datarial.db).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs --token.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--token", envvar="DATARIAL_TOKEN", default=None,
              help="Admin access token (or DATARIAL_TOKEN); every API call and the UI then need a token.")
@click.option("--no-ui", is_flag=True, help="Serve the REST API only.")
def serve(db: str | None, host: str, port: int, token: str | None, no_ui: bool) -> None:
    """Serve the REST API and the browser UI (one process, shared database)."""
    serve_app(db, host, port, token, ui=not no_ui)


@click.group("token")
def token() -> None:
    """Issue, list and revoke access tokens for the server."""


@token.command("issue")
@click.option("--role", type=click.Choice(["read", "write"]), default="read", show_default=True,
              help="read: viewers (everything GET); write: add, edit, propose.")
@click.option("--label", default="", help="Who or what the token is for (shown in 'by' columns).")
@click.option("--db", default=None, help="Database URL or SQLite file.")
def token_issue(role: str, label: str, db: str | None) -> None:
    """Issue a token; it is printed once (only its hash is stored)."""
    from datarial.store import Store
    from datarial.store.tokens import issue_token

    secret, info = issue_token(Store(db), role, label)
    console.print(f"token {info.token_id} ({role}{', ' + label if label else ''}): {secret}")


@token.command("list")
@click.option("--db", default=None, help="Database URL or SQLite file.")
def token_list(db: str | None) -> None:
    """List issued tokens (not their secrets)."""
    from datarial.store import Store
    from datarial.store.tokens import list_tokens

    for t in list_tokens(Store(db)):
        console.print(f"{t.token_id}: {t.role} {t.label or '-'} issued {t.created_at:%Y-%m-%d %H:%M}"
                      + (" REVOKED" if t.revoked else ""))


@token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--db", default=None, help="Database URL or SQLite file.")
def token_revoke(token_id: int, db: str | None) -> None:
    """Revoke a token by its id."""
    from datarial.store import Store
    from datarial.store.tokens import revoke_token

    revoke_token(Store(db), token_id)
    console.print(f"token {token_id} revoked")


def register(app: click.Group) -> None:
    app.add_command(serve)
    app.add_command(token)
