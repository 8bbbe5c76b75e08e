"""The browser UI (NiceGUI on the server's FastAPI app).

Pages call the core (:class:`~datarial.campaign.Campaign` and friends) directly,
never the REST routes; slow work (model fits, maps, proposals) runs in worker
threads (``run.io_bound``) so the page never freezes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fastapi import FastAPI

from datarial.store import Store


def mount_ui(app: FastAPI, store: Store, token: str | None) -> None:
    """Register the pages and mount NiceGUI on ``app`` at ``/``."""
    from nicegui import storage, ui

    # Per-browser settings (token, name) live in NiceGUI's user storage; keep
    # its files out of the working directory.
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "datarial" / "ui-storage"
    storage.Storage.path = Path(os.environ.get("NICEGUI_STORAGE_PATH", default)).resolve()

    from datarial.server.ui import pages
    from datarial.server.ui.context import UIContext

    pages.CONTEXT = UIContext(store=store, auth=app.state.auth)
    pages.register()
    secret = os.environ.get("DATARIAL_UI_SECRET") or (token and f"datarial-{token}") or secrets.token_urlsafe(32)
    ui.run_with(app, title="datarial", storage_secret=secret, show_welcome_message=False, favicon="🧲",
                reconnect_timeout=10.0)
