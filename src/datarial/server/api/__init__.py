"""REST API routers (mounted under ``/api/v1``)."""

from fastapi import APIRouter

from datarial.server.api import campaigns, data, model, tokens

router = APIRouter(prefix="/api/v1")
for _module in (campaigns, data, model, tokens):
    router.include_router(_module.router)

__all__ = ["router"]
