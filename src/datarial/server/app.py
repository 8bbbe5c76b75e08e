"""The FastAPI application: REST API under /api/v1, OpenAPI at /openapi.json, UI at /."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from datarial import __version__
from datarial.errors import ConflictError, DatarialError, NotFoundError
from datarial.server.api import router
from datarial.server.api.common import UPLOAD_LIMIT_BYTES
from datarial.server.auth import AuthConfig
from datarial.store import Store

log = logging.getLogger("datarial.server")
MAX_BODY_BYTES = 110 * 1024 * 1024  # the largest upload (a raw file) plus form overhead


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def create_app(store: Store | str | None = None, *, token: str | None = None, ui: bool = True) -> FastAPI:
    """The server app on ``store`` (a Store or database URL); ``token`` makes every call need one."""
    store = store if isinstance(store, Store) else Store(store)
    app = FastAPI(title="datarial", version=__version__,
                  description="Shared experiment database and Bayesian optimization for materials process design. "
                              "Units: parameters in their campaign units, objectives in the objective's unit.")
    app.state.store = store
    app.state.auth = AuthConfig(store, token)

    @app.exception_handler(DatarialError)
    async def datarial_error(_: Request, exc: DatarialError) -> JSONResponse:
        code = (status.HTTP_404_NOT_FOUND if isinstance(exc, NotFoundError)
                else status.HTTP_409_CONFLICT if isinstance(exc, ConflictError)
                else status.HTTP_400_BAD_REQUEST)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        msgs = [f"{_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors]
        return JSONResponse({"detail": "; ".join(msgs), "errors": [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in errors]},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body of {int(length) // (1024 * 1024)} MiB is over the "
                                           f"{MAX_BODY_BYTES // (1024 * 1024)} MiB limit"},
                                status_code=status.HTTP_413_CONTENT_TOO_LARGE)
        return await call_next(request)

    app.include_router(router)

    @app.get("/api/v1/health", tags=["server"], summary="Server and database are up")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "database": store.dialect,
                "auth": "token" if token else "open (loopback only)", "upload_limit_bytes": UPLOAD_LIMIT_BYTES}

    if ui:
        from datarial.server.ui import mount_ui

        mount_ui(app, store, token)
    return app
