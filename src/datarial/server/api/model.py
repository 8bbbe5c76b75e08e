"""Proposals and the model: ask for a batch, pending list, predictions, maps, history, unexplored regions."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from datarial.errors import DatarialError
from datarial.optimize.maps import ModelMap, history_frame
from datarial.server.api.common import campaign_of, csv_response, figure_response, plain
from datarial.server.api.schemas import AbandonIn, MapIn, PredictIn, ProposeIn
from datarial.server.auth import Principal, reader, writer
from datarial.viz import maps as vmaps

router = APIRouter(tags=["model"])
Format = Literal["json", "csv", "png", "svg"]


@router.post("/campaigns/{name}/proposals", status_code=status.HTTP_201_CREATED,
             summary="Propose the next batch (a new round); pending proposals are accounted for")
def propose(request: Request, name: str, body: ProposeIn, who: Principal = Depends(writer)) -> dict[str, Any]:
    settings = {k: v for k, v in {"beta": body.beta, "xi": body.xi}.items() if v is not None}
    batch = campaign_of(request, name).propose(body.batch_size, body.acquisition, seed=body.seed,
                                               remeasure=body.remeasure, by=who.name, settings=settings)
    return plain(batch)


@router.get("/campaigns/{name}/proposals", summary="Pending proposals (JSON or a CSV to fill in and record)")
def pending(request: Request, name: str, format: Literal["json", "csv"] = "json",
            _: Principal = Depends(reader)) -> Any:
    camp = campaign_of(request, name)
    props = camp.pending()
    if format == "csv":
        return csv_response(camp.proposals_frame(props), f"{camp.name}-proposals.csv")
    return plain(props)


@router.post("/campaigns/{name}/proposals/abandon", summary="Mark pending proposals abandoned")
def abandon(request: Request, name: str, body: AbandonIn, _: Principal = Depends(writer)) -> dict[str, Any]:
    return {"abandoned": campaign_of(request, name).abandon(body.proposal_ids)}


@router.post("/campaigns/{name}/predict", summary="Model mean, std and ±1σ band at given conditions")
def predict(request: Request, name: str, body: PredictIn, _: Principal = Depends(reader)) -> dict[str, Any]:
    camp = campaign_of(request, name)
    p = camp.predict(body.points)
    obj = camp.space.objective
    return plain({"unit": obj.unit, "std_unit": "decades" if obj.transform == "log" else obj.unit,
                  "mean": p.mean, "std": p.std, "lower": p.lower, "upper": p.upper})


def map_json(m: ModelMap) -> dict[str, Any]:
    obj = m.space.objective
    return plain({
        "axes": m.axes, "axis_units": [m.space[a].unit for a in m.axes], "axis_values": m.axis_values,
        "fixed": m.fixed, "objective": obj.label, "std_unit": "decades" if obj.transform == "log" else obj.unit,
        "mean": m.mean, "std": m.std, "lower": m.lower, "upper": m.upper, "acquisition": m.acquisition,
        "acquisition_name": m.acquisition_name, "feasible": m.feasible, "points": m.points, "proposals": m.proposals,
    })


def parse_map_query(axes: str, fixed: str | None) -> tuple[list[str], dict[str, Any] | None]:
    names = [a.strip() for a in axes.split(",") if a.strip()]
    if fixed is None or not fixed.strip():
        return names, None
    try:
        values = json.loads(fixed)
    except json.JSONDecodeError:
        raise DatarialError('fixed: expected a JSON object such as {"MgB2_frac": 10}') from None
    if not isinstance(values, dict):
        raise DatarialError('fixed: expected a JSON object such as {"MgB2_frac": 10}')
    return names, values


def _map_out(m: ModelMap, fmt: str, stem: str) -> Any:
    if fmt == "csv":
        return csv_response(m.to_frame(), f"{stem}.csv")
    if fmt in ("png", "svg"):
        return figure_response(vmaps.map_figure_mpl(m), fmt, stem)
    return map_json(m)


AXES = Query(..., description="1-3 comma-separated parameters, e.g. T_max,t_hold")
FIXED = Query(None, description='JSON object of the other parameters, e.g. {"MgB2_frac": 10}')


@router.post("/campaigns/{name}/maps", summary="Mean, std and acquisition on a 1-3D grid (JSON)")
def post_map(request: Request, name: str, body: MapIn, _: Principal = Depends(reader)) -> dict[str, Any]:
    m = campaign_of(request, name).model_map(body.axes, fixed=body.fixed, resolution=body.resolution,
                                             acquisition=body.acquisition)
    return map_json(m)


@router.get("/campaigns/{name}/map", summary="A model map as JSON, CSV grid data, PNG or SVG")
def get_map(request: Request, name: str, axes: str = AXES, fixed: str | None = FIXED,
            resolution: int | None = Query(None, ge=2, le=1000),
            acquisition: Literal["ei", "ucb", "pi", "qlognei"] = "ei", format: Format = "json",
            _: Principal = Depends(reader)) -> Any:
    names, fixed_values = parse_map_query(axes, fixed)
    camp = campaign_of(request, name)
    m = camp.model_map(names, fixed=fixed_values, resolution=resolution, acquisition=acquisition)
    return _map_out(m, format, f"{camp.name}-map-{'-'.join(names)}")


@router.get("/campaigns/{name}/history", summary="Best so far per round (JSON, CSV, PNG or SVG)")
def history(request: Request, name: str, format: Format = "json", _: Principal = Depends(reader)) -> Any:
    import pandas as pd

    camp = campaign_of(request, name)
    st = camp.status()
    if format in ("png", "svg"):
        return figure_response(vmaps.best_so_far_mpl(st), format, f"{camp.name}-best-per-round")
    rows = [{"round": r.round, "experiments": r.experiments, "measurements": r.measurements,
             f"best of round {st.space.objective.label}": r.best_in_round.mean if r.best_in_round else None,
             f"best so far {st.space.objective.label}": r.best_so_far.mean if r.best_so_far else None,
             "best so far experiment_id": r.best_so_far.experiment_id if r.best_so_far else None}
            for r in st.rounds]
    if format == "csv":
        return csv_response(pd.DataFrame(rows), f"{camp.name}-best-per-round.csv")
    return plain({"objective": st.space.objective.label, "rounds": rows})


@router.get("/campaigns/{name}/history/maps", summary="The mean map after each round (JSON, CSV, PNG or SVG)")
def history_maps(request: Request, name: str, axes: str = AXES, fixed: str | None = FIXED,
                 resolution: int | None = Query(None, ge=2, le=400), format: Format = "json",
                 _: Principal = Depends(reader)) -> Any:
    names, fixed_values = parse_map_query(axes, fixed)
    camp = campaign_of(request, name)
    maps = camp.history_maps(names, fixed=fixed_values, resolution=resolution)
    if format in ("png", "svg"):
        return figure_response(vmaps.history_figure_mpl(maps), format, f"{camp.name}-history")
    if format == "csv":
        return csv_response(history_frame(maps), f"{camp.name}-history.csv")
    return {"rounds": [{"round": r, "map": map_json(m) if m is not None else None} for r, m in maps]}


@router.get("/campaigns/{name}/diagnostics",
            summary="Leave-one-out check of the model: predicted vs measured, R², calibration (JSON, CSV, PNG, SVG)")
def diagnostics(request: Request, name: str, format: Format = "json",
                descriptor: list[str] = Query([], description="measured descriptors to add as model inputs "
                                                             "(repeat the parameter); compared with the process-only model"),
                _: Principal = Depends(reader)) -> Any:
    from datarial.viz.diagnostics import diagnostics_mpl

    camp = campaign_of(request, name)
    check = camp.diagnose_descriptors(descriptor) if descriptor else None
    d, space = (check.with_descriptors, check.space) if check else (camp.diagnose(), camp.space)
    obj = space.objective
    if format in ("png", "svg"):
        return figure_response(diagnostics_mpl(d, obj.label, log=obj.transform == "log"), format,
                               f"{camp.name}-diagnostics")
    frame = d.frame(space)
    if format == "csv":
        return csv_response(frame, f"{camp.name}-diagnostics.csv")
    return plain({"objective": obj.label, "unit": obj.unit, "std_unit": d.std_unit, "summary": d.summary(),
                  "calibration": {"nominal": d.levels, "observed": d.coverage},
                  "conditions": frame.to_dict(orient="records"),
                  **({"descriptors": check.summary()} if check else {})})


@router.get("/campaigns/{name}/unexplored",
            summary="Where no data and high uncertainty remain, with suggested points (JSON, CSV, PNG, SVG)")
def unexplored(request: Request, name: str, axes: str = AXES, fixed: str | None = FIXED,
               resolution: int | None = Query(None, ge=2, le=1000), suggestions: int = Query(10, ge=1, le=100),
               format: Format = "json", _: Principal = Depends(reader)) -> Any:
    names, fixed_values = parse_map_query(axes, fixed)
    camp = campaign_of(request, name)
    u = camp.unexplored(names, fixed=fixed_values, resolution=resolution, n_suggestions=suggestions)
    if format in ("png", "svg"):
        return figure_response(vmaps.unexplored_mpl(u), format, f"{camp.name}-unexplored")
    if format == "csv":
        frame = u.map.to_frame()
        frame["relative std"] = u.relative_std.reshape(-1)
        frame["distance to nearest data"] = u.distance.reshape(-1)
        return csv_response(frame, f"{camp.name}-unexplored.csv")
    return plain({"map": map_json(u.map), "relative_std": u.relative_std, "distance": u.distance,
                  "suggestions": u.suggestions.to_dict(orient="records")})
