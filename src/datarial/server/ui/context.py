"""What every UI page needs: the store, the access check, who is using it."""

from __future__ import annotations

from dataclasses import dataclass

from datarial.server.auth import AuthConfig, Principal
from datarial.store import Store


@dataclass
class UIContext:
    store: Store
    auth: AuthConfig

    def principal(self, user_storage) -> Principal | None:
        """The browser's principal from its stored token (None: must log in)."""
        p = self.auth.resolve(user_storage.get("token"))
        if p is None:
            return None
        return Principal(p.role, user_storage.get("user") or p.name)
