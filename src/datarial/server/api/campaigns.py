"""Campaigns: list, create (JSON, YAML text or an uploaded file), details, settings, status."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from datarial.campaign import Campaign
from datarial.errors import DatarialError
from datarial.server.api.common import campaign_of, plain, read_upload, store_of
from datarial.server.api.schemas import CampaignCreate
from datarial.server.auth import Principal, reader, writer
from datarial.space import SearchSpace, space_from_text

router = APIRouter(tags=["campaigns"])


def campaign_json(c: Campaign) -> dict[str, Any]:
    st = c.status()
    return {
        "id": c.id, "name": c.name, "space": c.space.to_dict(), "settings": c.settings.to_dict(),
        "objective": {"name": c.space.objective.name, "unit": c.space.objective.unit,
                      "goal": c.space.objective.goal, "label": c.space.objective.label},
        "experiments": st.experiments, "measurements": st.measurements,
        "researcher_experiments": st.researcher_experiments, "proposed_experiments": st.proposed_experiments,
        "flagged_experiments": st.flagged_experiments, "pending": len(st.pending),
        "best": plain(st.best), "rounds": plain(st.rounds),
    }


def create_campaign(request: Request, body: CampaignCreate, by: str) -> Campaign:
    if (body.space is None) == (body.space_yaml is None):
        raise DatarialError("body: give exactly one of 'space' (an object) or 'space_yaml' (text)")
    if body.space is not None:
        space = SearchSpace.from_dict(body.space, source="body.space")
    else:
        space = space_from_text(body.space_yaml, source="body.space_yaml")
    return Campaign.create(store_of(request), space, name=body.name, settings=body.settings, created_by=by)


@router.get("/campaigns", summary="All campaigns with counts")
def list_campaigns(request: Request, _: Principal = Depends(reader)) -> list[dict[str, Any]]:
    return plain(Campaign.list(store_of(request)))


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, summary="Create a campaign from a space")
def post_campaign(request: Request, body: CampaignCreate, who: Principal = Depends(writer)) -> dict[str, Any]:
    return campaign_json(create_campaign(request, body, who.name))


@router.post("/campaigns/upload", status_code=status.HTTP_201_CREATED,
             summary="Create a campaign from an uploaded YAML/JSON space file")
async def upload_campaign(request: Request, file: UploadFile = File(...), name: str | None = Form(None),
                          who: Principal = Depends(writer)) -> dict[str, Any]:
    data = await read_upload(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DatarialError(f"{file.filename}: not a UTF-8 text file") from None
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise DatarialError(f"{file.filename}{where}: not valid YAML/JSON") from None
    body = CampaignCreate(space_yaml=text, name=name or None)

    def make() -> dict[str, Any]:
        space = space_from_text(body.space_yaml, source=file.filename or "upload")
        return campaign_json(Campaign.create(store_of(request), space, name=body.name, created_by=who.name))

    return await run_in_threadpool(make)


@router.get("/campaigns/{name}", summary="A campaign: space, settings, counts, best, rounds")
def get_campaign(request: Request, name: str, _: Principal = Depends(reader)) -> dict[str, Any]:
    return campaign_json(campaign_of(request, name))


@router.patch("/campaigns/{name}/settings", summary="Change model settings (validated)")
def patch_settings(request: Request, name: str, body: dict[str, Any],
                   _: Principal = Depends(writer)) -> dict[str, Any]:
    return campaign_of(request, name).update_settings(**body).to_dict()
