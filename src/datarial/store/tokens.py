"""API access tokens kept in the shared database (only their SHA-256 is stored).

``write`` tokens may change data; ``read`` tokens are for viewers.  The token
given to ``datarial serve --token`` is a write token that is never stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from datarial.errors import DatarialError, NotFoundError
from datarial.store.db import Store
from datarial.store.models import TokenRow, utcnow

ROLES = ("read", "write")


@dataclass(frozen=True)
class TokenInfo:
    token_id: int
    role: str
    label: str
    created_at: datetime
    revoked: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: Store, role: str = "read", label: str = "") -> tuple[str, TokenInfo]:
    """A new random token (shown once) and its record."""
    if role not in ROLES:
        raise DatarialError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    token = "dtr_" + secrets.token_urlsafe(24)
    with store.session() as s:
        row = TokenRow(token_sha256=_digest(token), role=role, label=label)
        s.add(row)
        s.flush()
        return token, TokenInfo(row.id, row.role, row.label, row.created_at, False)


def token_role(store: Store, token: str) -> str | None:
    """The role of a stored, unrevoked token, else None."""
    with store.session() as s:
        row = s.scalar(select(TokenRow).where(TokenRow.token_sha256 == _digest(token)))
        if row is None or row.revoked_at is not None:
            return None
        return row.role


def list_tokens(store: Store) -> list[TokenInfo]:
    with store.session() as s:
        return [TokenInfo(r.id, r.role, r.label, r.created_at, r.revoked_at is not None)
                for r in s.scalars(select(TokenRow).order_by(TokenRow.id)).all()]


def revoke_token(store: Store, token_id: int) -> None:
    with store.session() as s:
        row = s.get(TokenRow, token_id)
        if row is None:
            raise NotFoundError(f"no token with id {token_id}")
        row.revoked_at = row.revoked_at or utcnow()
