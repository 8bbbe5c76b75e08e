"""Microstructure results as experiment descriptors: attach, data table, export/import, Jc vs 1/grain size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datarial.campaign import Campaign, ExperimentRecord, MeasurementRecord
from datarial.errors import DataFileError, DatarialError, NotFoundError
from datarial.space import space_from_text
from datarial.store import Store

from .conftest import write
from .test_cli import run

BA122 = """
name: ba122-bulk
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T_max, low: 500, high: 800, step: 5, unit: degC}
"""
LABEL = "descriptor: mean grain diameter [µm]"


def summary(tmp_path, name: str, diameter: float, extra: str = "") -> Path:
    return write(tmp_path / name, f"measure,value,unit\nmean grain diameter,{diameter},µm\ngrains,{int(50 / diameter)},count\n{extra}")


@pytest.fixture
def camp(store) -> Campaign:
    return Campaign.create(store, space_from_text(BA122))


def experiments(c: Campaign, tmp_path) -> list[int]:
    path = write(tmp_path / "made.csv", "T_max,Jc\n600,1.0e5\n650,1.6e5\n700,2.1e5\n")
    return c.import_file(path).experiment_ids


def test_summary_attaches_as_descriptors_and_shows_in_the_table(camp, tmp_path):
    e1, e2, _ = experiments(camp, tmp_path)
    rep = camp.attach(e1, summary(tmp_path, "q1.csv", 2.5))
    assert rep.kind == "descriptors"
    assert rep.descriptors == {"mean grain diameter": (2.5, "µm"), "grains": (20.0, "count")}
    camp.attach(e2, summary(tmp_path, "q2.csv", 1.25))
    frame = camp.experiments_frame()
    assert frame[LABEL].tolist()[:2] == [2.5, 1.25] and np.isnan(frame[LABEL].iloc[2])
    assert "descriptor: grains [count]" in frame.columns
    # a newer analysis of the same sample replaces the value
    camp.attach(e1, summary(tmp_path, "q1b.csv", 2.0))
    d = camp.descriptors_frame()
    assert d[(d.experiment_id == e1) & (d.name == "mean grain diameter")]["value"].tolist() == [2.0]
    assert d[(d.experiment_id == e1) & (d.name == "mean grain diameter")]["source"].tolist() == ["q1b.csv"]


def test_bad_summary_names_the_cell_and_stores_nothing(camp, tmp_path):
    e1 = experiments(camp, tmp_path)[0]
    bad = summary(tmp_path, "bad.csv", 2.5, extra="volume fraction,lots,fraction\n")
    with pytest.raises(DataFileError, match=r"bad.csv: row 4, column 'value': not a number"):
        camp.attach(e1, bad)
    assert camp.descriptors_frame().empty
    assert camp.experiments_frame().filter(like="descriptor:").empty


def test_same_descriptor_in_another_unit_is_refused(camp, tmp_path):
    e1, e2, _ = experiments(camp, tmp_path)
    camp.attach(e1, summary(tmp_path, "q1.csv", 2.5))
    other = write(tmp_path / "nm.csv", "measure,value,unit\nmean grain diameter,2500,nm\n")
    with pytest.raises(DataFileError, match="in nm here but in µm"):
        camp.attach(e2, other)


def test_export_and_import_carry_descriptors(camp, tmp_path, sqlite_store: Store):
    e1, e2, _ = experiments(camp, tmp_path)
    camp.set_descriptors(e1, {"mean grain diameter": (2.5, "µm"), "open pore fraction": (0.9, "fraction")})
    camp.set_descriptors(e2, {"mean grain diameter": (1.25, "µm")})
    out = camp.export(tmp_path / "all.csv")
    copy = Campaign.create(sqlite_store, space_from_text(BA122.replace("ba122-bulk", "copy")))
    copy.import_file(out)
    a = camp.descriptors_frame()[["name", "value", "unit"]].sort_values(["name", "value"]).reset_index(drop=True)
    b = copy.descriptors_frame()[["name", "value", "unit"]].sort_values(["name", "value"]).reset_index(drop=True)
    assert a.equals(b)


def test_import_refuses_a_bad_descriptor_cell(camp, tmp_path):
    path = write(tmp_path / "d.csv", f"T_max,Jc,{LABEL}\n600,1e5,2.5\n650,2e5,big\n")
    with pytest.raises(DataFileError, match=r"row 3, column 'descriptor: mean grain diameter \[µm\]'"):
        camp.import_file(path)
    assert camp.experiments() == []


def test_cli_attach_and_correlate_jc_with_inverse_grain_size(capsys, tmp_path):
    db = str(tmp_path / "lab.db")
    space = str(write(tmp_path / "space.yaml", BA122))
    assert run(capsys, "init", "bulk", "--space", space, "--db", db)[0] == 0
    made = write(tmp_path / "made.csv", "T_max,Jc\n600,1.0e5\n650,1.6e5\n700,2.1e5\n")
    assert run(capsys, "import", "bulk", str(made), "--db", db)[0] == 0
    for eid, d in ((1, 4.0), (2, 2.0), (3, 1.0)):
        code, out, err = run(capsys, "attach", "bulk", str(eid), str(summary(tmp_path, f"q{eid}.csv", d)), "--db", db)
        assert code == 0, err
        assert "mean grain diameter = " in out
    code, out, err = run(capsys, "micro", "correlate", "bulk", "--descriptor", "grain diam", "--db", db,
                         "--plot", str(tmp_path / "c.png"))
    assert code == 0, err
    x, y = 1 / np.array([4.0, 2.0, 1.0]), np.array([1.0e5, 1.6e5, 2.1e5])
    assert f"Pearson r = {np.corrcoef(x, y)[0, 1]:.3f} over 3 experiments" in out
    assert (tmp_path / "c.png").stat().st_size > 1000
    code, _, err = run(capsys, "micro", "correlate", "bulk", "--descriptor", "porosity", "--db", db)
    assert code == 2 and "--descriptor" in err


def porous_campaign(c: Campaign, n: int = 18) -> None:
    """Jc set mostly by a measured porosity that the process parameter does not control."""
    rng = np.random.default_rng(5)
    T = rng.choice(np.arange(500, 801, 5), n)
    porosity = rng.uniform(0.05, 0.40, n)
    jc = 2.0e5 * (1.0 - 2.0 * porosity) + 5e3 * np.sin(T / 60) + rng.normal(0, 2e3, n)
    ids = c.add_experiments([ExperimentRecord(conditions={"T_max": float(t)}, measurements=[MeasurementRecord(value=float(j))])
                             for t, j in zip(T, jc, strict=True)])
    for eid, p in zip(ids, porosity, strict=True):
        c.set_descriptors(eid, {"porosity": (float(p), "1"), "grains": (20.0, "count")})


def test_descriptor_as_model_input_explains_what_the_process_does_not(camp):
    porous_campaign(camp)
    check = camp.diagnose_descriptors(["porosity"])
    assert check.names == ("porosity",) and check.experiments == 18 and check.skipped == 0
    assert check.with_descriptors.r2 > 0.8
    assert check.process_only.r2 < 0.3
    assert check.lengthscales["descriptor: porosity"] < check.lengthscales["T_max"]
    assert check.with_descriptors.frame(check.space).columns[1] == "descriptor_porosity [1]"
    with pytest.raises(DatarialError, match="same value"):
        camp.diagnose_descriptors(["grains"])
    with pytest.raises(NotFoundError):
        camp.diagnose_descriptors(["grain size"])


def test_cli_diagnose_with_a_descriptor(capsys, tmp_path, store):
    c = Campaign.create(store, space_from_text(BA122))
    porous_campaign(c)
    code, out, err = run(capsys, "diagnose", c.name, "--descriptor", "poro", "--db", store.url,
                         "--plot", str(tmp_path / "d.png"), "--out", str(tmp_path / "d.csv"))
    assert code == 0, err
    assert "Descriptors as model inputs (18 experiments)" in out
    assert "process + porosity" in out and "descriptor: porosity" in out  # the lengthscale line
    table = pd.read_csv(tmp_path / "d.csv")
    assert "descriptor_porosity [1]" in table.columns


def test_rest_diagnostics_with_descriptors(camp):
    from fastapi.testclient import TestClient

    from datarial.server.app import create_app

    porous_campaign(camp)
    client = TestClient(create_app(camp.store, ui=False))
    r = client.get(f"/api/v1/campaigns/{camp.name}/diagnostics", params={"descriptor": ["porosity"]})
    assert r.status_code == 200, r.text
    body = r.json()["descriptors"]
    assert body["r2_with_descriptors"] > 0.8 > body["r2_process_only"]
    assert "descriptor: porosity" in body["lengthscales"]
    r = client.get(f"/api/v1/campaigns/{camp.name}/diagnostics", params={"descriptor": ["nothing like it"]})
    assert r.status_code == 404 and "nothing like it" in r.json()["detail"]
