"""Experiments and measurements: results, tables in and out, edits with history, raw files."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from datarial.campaign.attachments import MAX_ATTACHMENT_BYTES
from datarial.server.api.common import campaign_of, csv_response, plain, read_upload, xlsx_response
from datarial.server.api.schemas import ExperimentEdit, MeasurementEdit, MeasurementsAdd, ResultsIn
from datarial.server.auth import Principal, reader, writer

router = APIRouter(tags=["data"])

CONFIRM = Query(False, description="must be true: deletions are kept in the edit history but leave the model")


def _confirmed(confirm: bool, what: str) -> None:
    if not confirm:
        raise HTTPException(status.HTTP_409_CONFLICT, f"deleting {what} needs confirm=true")


@router.get("/campaigns/{name}/experiments", summary="Every experiment with replicate mean ± sd, source, round, who, when")
def list_experiments(request: Request, name: str, _: Principal = Depends(reader)) -> list[dict[str, Any]]:
    return plain(campaign_of(request, name).experiments())


@router.post("/campaigns/{name}/results", status_code=status.HTTP_201_CREATED,
             summary="Post results (instruments, scripts): by proposal_id, experiment_id or conditions; all or none")
def post_results(request: Request, name: str, body: ResultsIn, who: Principal = Depends(writer)) -> dict[str, Any]:
    return plain(campaign_of(request, name).record_results(body.results, by=who.name))


@router.post("/campaigns/{name}/experiments", status_code=status.HTTP_201_CREATED,
             summary="Add researcher experiments by hand: items with conditions and value(s)")
def post_experiments(request: Request, name: str, body: ResultsIn, who: Principal = Depends(writer)) -> dict[str, Any]:
    for i, item in enumerate(body.results):
        if not isinstance(item, dict) or item.get("conditions") is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"results[{i}].conditions: missing")
        if item.get("proposal_id") is not None or item.get("experiment_id") is not None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST,
                                f"results[{i}]: new experiments take conditions only; use /results for proposals")
    return plain(campaign_of(request, name).record_results(body.results, by=who.name))


@router.get("/campaigns/{name}/experiments/{experiment_id}", summary="One experiment with replicates and files")
def get_experiment(request: Request, name: str, experiment_id: int, _: Principal = Depends(reader)) -> dict[str, Any]:
    return plain(campaign_of(request, name).experiment(experiment_id))


@router.patch("/campaigns/{name}/experiments/{experiment_id}", summary="Correct conditions or note (history kept)")
def patch_experiment(request: Request, name: str, experiment_id: int, body: ExperimentEdit,
                     who: Principal = Depends(writer)) -> dict[str, Any]:
    return plain(campaign_of(request, name).edit_experiment(
        experiment_id, conditions=body.conditions, note=body.note, by=who.name, reason=body.reason))


@router.delete("/campaigns/{name}/experiments/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an experiment and its replicates (needs confirm=true; history kept)")
def delete_experiment(request: Request, name: str, experiment_id: int, confirm: bool = CONFIRM,
                      reason: str = "", who: Principal = Depends(writer)) -> Response:
    camp = campaign_of(request, name)
    camp.experiment(experiment_id)  # 404 before asking for confirmation
    _confirmed(confirm, f"experiment {experiment_id}")
    camp.delete_experiment(experiment_id, by=who.name, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/campaigns/{name}/experiments/{experiment_id}/measurements", status_code=status.HTTP_201_CREATED,
             summary="Add replicate measurements to an experiment")
def post_measurements(request: Request, name: str, experiment_id: int, body: MeasurementsAdd,
                      who: Principal = Depends(writer)) -> dict[str, Any]:
    item = {"experiment_id": experiment_id, "values": body.values, "note": body.note,
            "measured_by": body.measured_by or who.name}
    return plain(campaign_of(request, name).record_results([item], by=who.name, where="body"))


@router.patch("/campaigns/{name}/measurements/{measurement_id}", summary="Correct one replicate (history kept)")
def patch_measurement(request: Request, name: str, measurement_id: int, body: MeasurementEdit,
                      who: Principal = Depends(writer)) -> dict[str, Any]:
    return plain(campaign_of(request, name).edit_measurement(
        measurement_id, value=body.value, note=body.note, measured_by=body.measured_by, by=who.name,
        reason=body.reason))


@router.delete("/campaigns/{name}/measurements/{measurement_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete one replicate (needs confirm=true; history kept)")
def delete_measurement(request: Request, name: str, measurement_id: int, confirm: bool = CONFIRM,
                       reason: str = "", who: Principal = Depends(writer)) -> Response:
    camp = campaign_of(request, name)
    _confirmed(confirm, f"measurement {measurement_id}")
    camp.delete_measurement(measurement_id, by=who.name, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/campaigns/{name}/edits", summary="Edit history (what changed, from what, to what, who, why)")
def list_edits(request: Request, name: str, entity: Literal["experiment", "measurement"] | None = None,
               entity_id: int | None = None, _: Principal = Depends(reader)) -> list[dict[str, Any]]:
    return plain(campaign_of(request, name).edits(entity, entity_id))


async def _table_upload(request: Request, name: str, file: UploadFile, who: Principal, action: str) -> dict[str, Any]:
    """Read an uploaded table and pass it to ``Campaign.import_file`` or ``Campaign.record_file``."""
    data = await read_upload(file)
    camp = await run_in_threadpool(campaign_of, request, name)
    filename = file.filename or "upload.csv"
    report = await run_in_threadpool(getattr(camp, action), filename, by=who.name, data=data, name=filename)
    return plain(report)


@router.post("/campaigns/{name}/import", status_code=status.HTTP_201_CREATED,
             summary="Import a CSV/Excel table of researcher experiments (all rows or none)")
async def import_table(request: Request, name: str, file: UploadFile = File(...),
                       who: Principal = Depends(writer)) -> dict[str, Any]:
    return await _table_upload(request, name, file, who, "import_file")


@router.post("/campaigns/{name}/record", status_code=status.HTTP_201_CREATED,
             summary="Record a filled-in proposals file (CSV/Excel; all rows or none)")
async def record_table(request: Request, name: str, file: UploadFile = File(...),
                       who: Principal = Depends(writer)) -> dict[str, Any]:
    return await _table_upload(request, name, file, who, "record_file")


@router.get("/campaigns/{name}/export", summary="Every measurement as CSV or Excel (import reads it back)")
def export_table(request: Request, name: str, format: Literal["csv", "xlsx"] = "csv",
                 _: Principal = Depends(reader)) -> Response:
    camp = campaign_of(request, name)
    frame = camp.experiments_frame()
    if format == "xlsx":
        return xlsx_response(frame, f"{camp.name}.xlsx")
    return csv_response(frame, f"{camp.name}.csv")


@router.post("/campaigns/{name}/experiments/{experiment_id}/attachments", status_code=status.HTTP_201_CREATED,
             summary="Attach a raw file (e.g. a magnetometer .dat); a derived objective is computed from it")
async def attach_file(request: Request, name: str, experiment_id: int, file: UploadFile = File(...),
                      size: str | None = Form(None, description="sample a x b x c with unit, field along c"),
                      geometry: Literal["rectangular", "square", "cylinder"] | None = Form(None),
                      kind: str | None = Form(None), who: Principal = Depends(writer)) -> dict[str, Any]:
    data = await read_upload(file, MAX_ATTACHMENT_BYTES)
    camp = await run_in_threadpool(campaign_of, request, name)
    report = await run_in_threadpool(lambda: camp.attach(
        experiment_id, file.filename or "upload", data=data, name=file.filename,
        kind=kind, properties={"size": size, "geometry": geometry}, by=who.name))
    return plain(report)


@router.get("/campaigns/{name}/files/{sha256}", summary="Download an attached raw file by its SHA-256")
def download_file(request: Request, name: str, sha256: str, _: Principal = Depends(reader)) -> Response:
    camp = campaign_of(request, name)
    return Response(camp.raw_file(sha256), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{sha256[:12]}.bin"'})


@router.post("/campaigns/{name}/derive", summary="Recompute every derived objective value from the stored files")
def derive(request: Request, name: str, _: Principal = Depends(writer)) -> dict[str, Any]:
    return {"recomputed": campaign_of(request, name).recompute_derived()}
