"""Access tokens: issue read-only (viewer) or write tokens; list; revoke (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status

from datarial.server.api.common import plain, store_of
from datarial.server.api.schemas import TokenIn
from datarial.server.auth import Principal, admin
from datarial.store.tokens import issue_token, list_tokens, revoke_token

router = APIRouter(tags=["tokens"])


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Issue a token (shown once)")
def post_token(request: Request, body: TokenIn, _: Principal = Depends(admin)) -> dict[str, Any]:
    token, info = issue_token(store_of(request), body.role, body.label)
    return {"token": token, **plain(info)}


@router.get("/tokens", summary="Issued tokens (without their secrets)")
def get_tokens(request: Request, _: Principal = Depends(admin)) -> list[dict[str, Any]]:
    return plain(list_tokens(store_of(request)))


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token")
def delete_token(request: Request, token_id: int, _: Principal = Depends(admin)) -> Response:
    revoke_token(store_of(request), token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
