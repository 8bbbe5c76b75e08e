"""REST API: every endpoint, auth, and bad input (4xx naming the field, nothing written)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from datarial.server.app import create_app
from datarial.store.tokens import issue_token

from .conftest import MGB2_YAML
from .test_attach import BA122, SIZE, loop

DATA = ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n550,0,0,1000\n550,3000,0,2000\n900,0,0,1500\n900,3000,0,4000\n"
        "730,1500,0,8000\n730,1500,0,8400\n700,1000,10,6000\n")
API = "/api/v1"


@pytest.fixture
def app_store(sqlite_store):
    return sqlite_store


@pytest.fixture
def client(app_store) -> TestClient:
    return TestClient(create_app(app_store, ui=False))


def with_mgb2(client: TestClient) -> TestClient:
    r = client.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML})
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/campaigns/mgb2-imd/import", files={"file": ("round1.csv", DATA, "text/csv")})
    assert r.status_code == 201, r.text
    return client


@pytest.fixture
def mgb2_api(client) -> TestClient:
    """The MgB2 campaign with a first round, on SQLite."""
    return with_mgb2(client)


@pytest.fixture
def mgb2_any(store) -> TestClient:
    """The same on SQLite and on PostgreSQL (for the tests that write through transactions)."""
    return with_mgb2(TestClient(create_app(store, ui=False)))


def n_measurements(client: TestClient, name: str = "mgb2-imd") -> int:
    return client.get(f"{API}/campaigns/{name}").json()["measurements"]


# --------------------------------------------------------------------------- campaigns
def test_openapi_schema_lists_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/campaigns", "/api/v1/campaigns/{name}/proposals", "/api/v1/campaigns/{name}/map",
              "/api/v1/campaigns/{name}/results", "/api/v1/tokens"):
        assert p in paths


def test_campaign_created_from_json_space_and_listed(client):
    space = {"name": "sps", "objective": {"name": "Jc", "unit": "A/cm2"},
             "parameters": [{"name": "T", "low": 500, "high": 800, "step": 5, "unit": "degC"}]}
    r = client.post(f"{API}/campaigns", json={"space": space, "settings": {"kernel": "rbf"}})
    assert r.status_code == 201
    assert r.json()["settings"]["kernel"] == "rbf"
    assert [c["name"] for c in client.get(f"{API}/campaigns").json()] == ["sps"]


def test_campaign_created_from_uploaded_yaml(client):
    r = client.post(f"{API}/campaigns/upload", files={"file": ("space.yaml", MGB2_YAML, "text/yaml")},
                    data={"name": "from-file"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "from-file" and len(r.json()["space"]["parameters"]) == 3


def test_bad_space_names_the_field_and_creates_nothing(client):
    bad = MGB2_YAML.replace("low: 550", "low: 950")
    r = client.post(f"{API}/campaigns", json={"space_yaml": bad})
    assert r.status_code == 400
    assert "parameters[0]" in r.json()["detail"] and "T_max" in r.json()["detail"]
    assert client.get(f"{API}/campaigns").json() == []


def test_unknown_body_field_is_422_naming_it(client):
    r = client.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML, "colour": "red"})
    assert r.status_code == 422
    assert "body.colour" in r.json()["detail"]


def test_duplicate_campaign_is_409(mgb2_api):
    assert mgb2_api.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML}).status_code == 409


def test_unknown_campaign_is_404(client):
    r = client.get(f"{API}/campaigns/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_settings_are_validated(mgb2_api):
    assert mgb2_api.patch(f"{API}/campaigns/mgb2-imd/settings", json={"beta": 4}).json()["beta"] == 4.0
    r = mgb2_api.patch(f"{API}/campaigns/mgb2-imd/settings", json={"kernal": "rbf"})
    assert r.status_code == 400 and "kernal" in r.json()["detail"]


# --------------------------------------------------------------------------- data
def test_experiments_show_replicate_mean_sd_source_round_and_who(mgb2_api):
    rows = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments").json()
    assert len(rows) == 6
    rep = next(r for r in rows if r["n"] == 2)
    assert rep["mean"] == pytest.approx(8200) and rep["sd"] == pytest.approx(np.std([8000, 8400], ddof=1))
    assert rep["source"] == "researcher" and rep["round"] == 1 and rep["created_by"] == "local"
    assert rep["created_at"]


def test_bad_import_names_row_and_column_and_writes_nothing(mgb2_any):
    bad = "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,100,0,5000\n610,100,0,abc\n"
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/import", files={"file": ("bad.csv", bad, "text/csv")})
    assert r.status_code == 400
    assert "row 3" in r.json()["detail"] and "Jc_4p2K_7T" in r.json()["detail"]
    assert n_measurements(mgb2_any) == 7


def test_upload_over_the_limit_is_413(mgb2_api, monkeypatch):
    import datarial.server.api.common as common

    monkeypatch.setattr(common, "UPLOAD_LIMIT_BYTES", 100)
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/import", files={"file": ("big.csv", DATA * 10, "text/csv")})
    assert r.status_code == 413
    assert n_measurements(mgb2_api) == 7


def test_export_csv_and_xlsx_round_trip(mgb2_api):
    csv = mgb2_api.get(f"{API}/campaigns/mgb2-imd/export").text
    assert len(pd.read_csv(io.StringIO(csv))) == 7
    xlsx = mgb2_api.get(f"{API}/campaigns/mgb2-imd/export?format=xlsx").content
    assert len(pd.read_excel(io.BytesIO(xlsx))) == 7


def test_researcher_experiment_added_by_hand(mgb2_api):
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/experiments",
                      json={"results": [{"conditions": {"T_max": 800, "t_hold": 200, "MgB2_frac": 30},
                                         "values": [5000, 5200], "note": "by hand"}]})
    assert r.status_code == 201, r.text
    eid = r.json()["experiment_ids"][0]
    detail = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments/{eid}").json()
    assert [m["value"] for m in detail["measurements"]] == [5000, 5200]
    assert detail["source"] == "researcher"


def test_bad_result_names_item_and_field_and_writes_nothing(mgb2_any):
    good = {"conditions": {"T_max": 800, "t_hold": 200, "MgB2_frac": 0}, "value": 1}
    bad = {"conditions": {"T_max": "hot", "t_hold": 200, "MgB2_frac": 0}, "value": 2}
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/results", json={"results": [good, bad]})
    assert r.status_code == 400
    assert "results[1].conditions.T_max" in r.json()["detail"]
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/results",
                      json={"results": [good, {**good, "value": float("inf") if False else "NaN"}]})
    assert r.status_code == 400 and "results[1].value" in r.json()["detail"]
    assert n_measurements(mgb2_any) == 7


def test_unknown_category_in_result_is_400(mgb2_api):
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/results",
                      json={"results": [{"conditions": {"T_max": 800, "t_hold": 200, "MgB2_frac": 20}, "value": 1}]})
    assert r.status_code == 400 and "MgB2_frac" in r.json()["detail"]


def test_replicates_added_to_an_experiment(mgb2_api):
    eid = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments").json()[0]["experiment_id"]
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/experiments/{eid}/measurements", json={"values": [1100, 1200]})
    assert r.status_code == 201
    assert len(mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments/{eid}").json()["measurements"]) == 3


def test_measurement_edit_keeps_history(mgb2_any):
    eid = mgb2_any.get(f"{API}/campaigns/mgb2-imd/experiments").json()[0]["experiment_id"]
    mid = mgb2_any.get(f"{API}/campaigns/mgb2-imd/experiments/{eid}").json()["measurements"][0]["measurement_id"]
    r = mgb2_any.patch(f"{API}/campaigns/mgb2-imd/measurements/{mid}", json={"value": 1111, "reason": "typo"},
                       headers={"X-Datarial-User": "alice"})
    assert r.status_code == 200 and r.json()["value"] == 1111
    edits = mgb2_any.get(f"{API}/campaigns/mgb2-imd/edits?entity=measurement&entity_id={mid}").json()
    assert edits[0]["before"]["value"] == 1000 and edits[0]["after"]["value"] == 1111
    assert edits[0]["edited_by"] == "alice" and edits[0]["reason"] == "typo"


def test_experiment_conditions_edit_recomputes_flags(mgb2_api):
    eid = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments").json()[0]["experiment_id"]
    r = mgb2_api.patch(f"{API}/campaigns/mgb2-imd/experiments/{eid}", json={"conditions": {"T_max": 555}})
    assert r.status_code == 200
    assert r.json()["conditions"]["T_max"] == 555 and "off-grid:T_max" in r.json()["flags"]
    r = mgb2_api.patch(f"{API}/campaigns/mgb2-imd/experiments/{eid}", json={"conditions": {"Tmax": 555}})
    assert r.status_code == 400 and "conditions.Tmax" in r.json()["detail"]


def test_delete_needs_confirmation_and_is_kept_in_history(mgb2_any):
    eid = mgb2_any.get(f"{API}/campaigns/mgb2-imd/experiments").json()[0]["experiment_id"]
    assert mgb2_any.delete(f"{API}/campaigns/mgb2-imd/experiments/{eid}").status_code == 409
    assert n_measurements(mgb2_any) == 7
    assert mgb2_any.delete(f"{API}/campaigns/mgb2-imd/experiments/{eid}?confirm=true&reason=bad").status_code == 204
    assert n_measurements(mgb2_any) == 6
    edits = mgb2_any.get(f"{API}/campaigns/mgb2-imd/edits").json()
    assert edits[-1]["action"] == "delete" and edits[-1]["before"]["measurements"][0]["value"] == 1000
    assert mgb2_any.get(f"{API}/campaigns/mgb2-imd/experiments/{eid}").status_code == 404


def test_measurement_delete_needs_confirmation(mgb2_api):
    eid = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments").json()[0]["experiment_id"]
    mid = mgb2_api.get(f"{API}/campaigns/mgb2-imd/experiments/{eid}").json()["measurements"][0]["measurement_id"]
    assert mgb2_api.delete(f"{API}/campaigns/mgb2-imd/measurements/{mid}").status_code == 409
    assert mgb2_api.delete(f"{API}/campaigns/mgb2-imd/measurements/{mid}?confirm=true").status_code == 204
    assert n_measurements(mgb2_api) == 6


# --------------------------------------------------------------------------- proposals
def test_propose_list_download_record_by_results_and_abandon(mgb2_any):
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/proposals",
                      json={"batch_size": 3, "acquisition": "ucb", "beta": 4, "seed": 1})
    assert r.status_code == 201, r.text
    props = r.json()["proposals"]
    assert len(props) == 3 and r.json()["round"] == 2
    assert len(mgb2_any.get(f"{API}/campaigns/mgb2-imd/proposals").json()) == 3
    csv = pd.read_csv(io.StringIO(mgb2_any.get(f"{API}/campaigns/mgb2-imd/proposals?format=csv").text))
    assert list(csv["proposal_id"]) == [p["proposal_id"] for p in props]
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/results",
                      json={"results": [{"proposal_id": props[0]["proposal_id"], "values": [9000, 9100]}]})
    assert r.status_code == 201 and r.json()["proposals_measured"] == 1
    r = mgb2_any.post(f"{API}/campaigns/mgb2-imd/proposals/abandon", json={"proposal_ids": [props[1]["proposal_id"]]})
    assert r.json() == {"abandoned": 1}
    pending = mgb2_any.get(f"{API}/campaigns/mgb2-imd/proposals").json()
    assert [p["proposal_id"] for p in pending] == [props[2]["proposal_id"]]


def test_filled_in_proposals_file_is_recorded(mgb2_api):
    props = mgb2_api.post(f"{API}/campaigns/mgb2-imd/proposals", json={"batch_size": 2, "seed": 3}).json()["proposals"]
    frame = pd.read_csv(io.StringIO(mgb2_api.get(f"{API}/campaigns/mgb2-imd/proposals?format=csv").text))
    frame["Jc_4p2K_7T [A/cm2]"] = [7000, 7100]
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/record",
                      files={"file": ("filled.csv", frame.to_csv(index=False), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["experiments"] == 2 and len(props) == 2
    assert mgb2_api.get(f"{API}/campaigns/mgb2-imd/proposals").json() == []


def test_bad_batch_size_is_422(mgb2_api):
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/proposals", json={"batch_size": 50})
    assert r.status_code == 422 and "body.batch_size" in r.json()["detail"]
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/proposals", json={"acquisition": "best"})
    assert r.status_code == 422 and "body.acquisition" in r.json()["detail"]


def test_abandon_unknown_proposal_is_404(mgb2_api):
    assert mgb2_api.post(f"{API}/campaigns/mgb2-imd/proposals/abandon", json={"proposal_ids": [999]}).status_code == 404


# --------------------------------------------------------------------------- model
def test_predict_at_points(mgb2_api):
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/predict",
                      json={"points": {"T_max": [730, 550], "t_hold": [1500, 0], "MgB2_frac": [0, 0]}})
    assert r.status_code == 200
    out = r.json()
    assert out["mean"][0] > out["mean"][1] and out["unit"] == "A/cm2"
    r = mgb2_api.post(f"{API}/campaigns/mgb2-imd/predict", json={"points": {"T_max": [730], "t_hold": [1500]}})
    assert r.status_code == 400 and "MgB2_frac" in r.json()["detail"]


def test_2d_map_json_has_grid_points_and_acquisition(mgb2_api):
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map",
                     params={"axes": "T_max,t_hold", "fixed": json.dumps({"MgB2_frac": 0}), "resolution": 20})
    assert r.status_code == 200, r.text
    m = r.json()
    assert len(m["mean"]) == 20 and len(m["mean"][0]) == 20 and len(m["acquisition"]) == 20
    assert m["fixed"] == {"MgB2_frac": 0}
    assert len(m["points"]) == 5  # the MgB2 10 % sample is on another slice


def test_map_csv_png_svg_exports(mgb2_api):
    q = {"axes": "T_max,t_hold", "resolution": 10}
    csv = pd.read_csv(io.StringIO(mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={**q, "format": "csv"}).text))
    assert len(csv) == 100 and "mean Jc_4p2K_7T [A/cm2]" in csv.columns and "T_max [degC]" in csv.columns
    png = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={**q, "format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    svg = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={**q, "format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content[:500]


def test_1d_and_3d_maps_via_post(mgb2_api):
    one = mgb2_api.post(f"{API}/campaigns/mgb2-imd/maps", json={"axes": ["T_max"], "resolution": 30}).json()
    assert len(one["mean"]) == 30 and len(one["lower"]) == 30
    three = mgb2_api.post(f"{API}/campaigns/mgb2-imd/maps",
                          json={"axes": ["T_max", "t_hold", "MgB2_frac"], "resolution": 8}).json()
    assert np.array(three["mean"]).shape == (8, 8, 3)


def test_bad_map_requests_name_the_field(mgb2_api):
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={"axes": "T_max,pressure"})
    assert r.status_code == 400 and "pressure" in r.json()["detail"]
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={"axes": "T_max", "fixed": "{oops"})
    assert r.status_code == 400 and "fixed" in r.json()["detail"]
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={"axes": "T_max", "fixed": '{"MgB2_frac": 20}'})
    assert r.status_code == 400 and "fixed.MgB2_frac" in r.json()["detail"]
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/map", params={"axes": "T_max", "resolution": 1})
    assert r.status_code == 422 and "resolution" in r.json()["detail"]


def test_map_of_a_campaign_without_data_is_400(client):
    client.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML})
    r = client.get(f"{API}/campaigns/mgb2-imd/map", params={"axes": "T_max"})
    assert r.status_code == 400 and "no measurements" in r.json()["detail"]


def test_history_best_so_far_and_round_maps(mgb2_api):
    props = mgb2_api.post(f"{API}/campaigns/mgb2-imd/proposals", json={"batch_size": 2, "seed": 1}).json()["proposals"]
    mgb2_api.post(f"{API}/campaigns/mgb2-imd/results",
                  json={"results": [{"proposal_id": p["proposal_id"], "value": 9000 + k} for k, p in enumerate(props)]})
    hist = mgb2_api.get(f"{API}/campaigns/mgb2-imd/history").json()["rounds"]
    assert [r["round"] for r in hist] == [1, 2]
    assert hist[1]["best so far Jc_4p2K_7T [A/cm2]"] == 9001
    maps = mgb2_api.get(f"{API}/campaigns/mgb2-imd/history/maps", params={"axes": "T_max,t_hold", "resolution": 10}).json()
    assert [r["round"] for r in maps["rounds"]] == [1, 2]
    assert len(maps["rounds"][1]["map"]["points"]) >= len(maps["rounds"][0]["map"]["points"])
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        assert mgb2_api.get(f"{API}/campaigns/mgb2-imd/history", params={"format": fmt}).content[:5].startswith(magic)
        assert mgb2_api.get(f"{API}/campaigns/mgb2-imd/history/maps",
                            params={"axes": "T_max,t_hold", "resolution": 10, "format": fmt}).content.startswith(magic)


def test_unexplored_regions_suggest_points_far_from_data(mgb2_api):
    r = mgb2_api.get(f"{API}/campaigns/mgb2-imd/unexplored", params={"axes": "T_max,t_hold", "resolution": 15,
                                                                      "suggestions": 4})
    assert r.status_code == 200
    out = r.json()
    assert len(out["suggestions"]) == 4
    assert all(s["distance to nearest data"] >= 0.15 for s in out["suggestions"])
    assert np.nanmax(np.array(out["relative_std"], dtype=float)) == pytest.approx(1.0)
    assert mgb2_api.get(f"{API}/campaigns/mgb2-imd/unexplored",
                        params={"axes": "T_max,t_hold", "resolution": 15, "format": "png"}).content[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- raw files (issue 5 upload)
def test_uploaded_magnetometer_file_gives_the_derived_objective(client, tmp_path):
    client.post(f"{API}/campaigns", json={"space_yaml": BA122})
    eid = client.post(f"{API}/campaigns/ba122/experiments",
                      json={"results": [{"conditions": {"T_max": 600, "dwell_time": 10}}]}
                      ).json()["experiment_ids"][0]
    dat = loop(tmp_path, "a.dat", 3e8).read_bytes()
    r = client.post(f"{API}/campaigns/ba122/experiments/{eid}/attachments",
                    files={"file": ("a.dat", dat, "application/octet-stream")}, data={"size": SIZE})
    assert r.status_code == 201, r.text
    assert r.json()["value"] == pytest.approx(3e8 / (1 + 3.0) / 1e4, rel=0.01)  # A/cm2 at 3 T
    sha = r.json()["sha256"]
    assert client.get(f"{API}/campaigns/ba122/files/{sha}").content == dat
    assert client.get(f"{API}/campaigns/ba122/experiments/{eid}").json()["measurements"][0]["derived"]
    other = loop(tmp_path, "b.dat", 2e8).read_bytes()
    r = client.post(f"{API}/campaigns/ba122/experiments/{eid}/attachments",
                    files={"file": ("b.dat", other, "application/octet-stream")})
    assert r.status_code == 400 and "size" in r.json()["detail"]
    assert client.post(f"{API}/campaigns/ba122/derive").json() == {"recomputed": 1}


# --------------------------------------------------------------------------- auth
@pytest.fixture
def secured(app_store) -> tuple[TestClient, str, str, str]:
    admin = "admin-token-123456"
    read, _ = issue_token(app_store, "read", "viewer")
    write, _ = issue_token(app_store, "write", "alice")
    return TestClient(create_app(app_store, token=admin, ui=False)), admin, read, write


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_required_when_set(secured):
    c, admin, _, _ = secured
    r = c.get(f"{API}/campaigns")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert c.get(f"{API}/campaigns", headers=bearer("wrong-token-xyz")).status_code == 401
    assert c.get(f"{API}/campaigns", headers=bearer(admin)).status_code == 200


def test_read_only_token_reads_but_cannot_write(secured):
    c, admin, read, _ = secured
    assert c.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML}, headers=bearer(admin)).status_code == 201
    assert c.get(f"{API}/campaigns/mgb2-imd", headers=bearer(read)).status_code == 200
    r = c.post(f"{API}/campaigns/mgb2-imd/proposals", json={}, headers=bearer(read))
    assert r.status_code == 403 and "write" in r.json()["detail"]


def test_write_token_writes_but_cannot_issue_tokens(secured):
    c, _, _, write = secured
    assert c.post(f"{API}/campaigns", json={"space_yaml": MGB2_YAML}, headers=bearer(write)).status_code == 201
    assert c.post(f"{API}/tokens", json={"role": "read"}, headers=bearer(write)).status_code == 403


def test_admin_issues_and_revokes_read_tokens(secured):
    c, admin, _, _ = secured
    r = c.post(f"{API}/tokens", json={"role": "read", "label": "visitor"}, headers=bearer(admin))
    assert r.status_code == 201
    tok, tid = r.json()["token"], r.json()["token_id"]
    assert c.get(f"{API}/campaigns", headers=bearer(tok)).status_code == 200
    assert all("token" not in t for t in c.get(f"{API}/tokens", headers=bearer(admin)).json())
    assert c.delete(f"{API}/tokens/{tid}", headers=bearer(admin)).status_code == 204
    assert c.get(f"{API}/campaigns", headers=bearer(tok)).status_code == 401


def test_health_check_needs_no_token(client, secured):
    assert client.get(f"{API}/health").json()["auth"].startswith("open")
    assert secured[0].get(f"{API}/health").json()["auth"] == "token"
