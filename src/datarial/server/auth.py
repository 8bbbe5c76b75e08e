"""Access control: open on the loopback interface, tokens everywhere else.

Roles, weakest first: ``read`` (viewers: every GET), ``write`` (add, edit,
propose), ``admin`` (also issue and revoke tokens).  The token given to
``datarial serve --token`` is the admin token; issued tokens are stored hashed
in the database (:mod:`datarial.store.tokens`).  Without any token the server
only binds to a loopback address and everyone on this machine is admin.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, status

from datarial.errors import DatarialError
from datarial.store import Store
from datarial.store.tokens import token_role

ROLE_RANK = {"read": 0, "write": 1, "admin": 2}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise DatarialError(
            f"--host {host}: serving beyond this machine needs an access token; "
            "give --token TOKEN or set DATARIAL_TOKEN (e.g. TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(24))'))")
    if token is not None and len(token) < 12:
        raise DatarialError("--token: use at least 12 characters")


@dataclass(frozen=True)
class Principal:
    """Who is calling: their role and a name for the 'by' columns."""

    role: str
    name: str

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass
class AuthConfig:
    store: Store
    admin_token: str | None = None

    @property
    def required(self) -> bool:
        return self.admin_token is not None

    def resolve(self, token: str | None) -> Principal | None:
        """The principal of a token (None if it is not valid); anyone is admin when no token is set."""
        if not self.required:
            return Principal("admin", "local")
        if not token:
            return None
        if secrets.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin", "admin")
        role = token_role(self.store, token)
        return Principal(role, f"{role}-token") if role else None


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def principal(request: Request) -> Principal:
    auth: AuthConfig = request.app.state.auth
    p = auth.resolve(bearer(request))
    if p is None:
        detail = ("missing token: send 'Authorization: Bearer TOKEN'" if not bearer(request)
                  else "invalid or revoked token")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
    user = request.headers.get("x-datarial-user", "").strip()
    return Principal(p.role, user[:200] or p.name)


def need(role: str):
    """A dependency that lets through callers with at least ``role``."""

    def check(p: Principal = Depends(principal)) -> Principal:
        if not p.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs a {role} token; yours is {p.role}")
        return p

    return check


reader = need("read")
writer = need("write")
admin = need("admin")
