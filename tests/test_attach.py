"""Raw files attached to experiments; objectives derived from them (Jc at a field, Tc)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from datarial.campaign import Campaign
from datarial.errors import DatarialError, NotFoundError
from datarial.io.qd_dat import write_qd_dat
from datarial.magnet.bean import Sample, bean_loop
from datarial.space import space_from_text

from .conftest import write
from .test_cli import run

BA122 = """
name: ba122
objective: {name: Jc_5K_3T, unit: A/cm2, goal: maximize, derived: {quantity: jc, field: 3T}}
parameters:
  - {name: T_max, low: 500, high: 800, step: 5, unit: degC}
  - {name: dwell_time, low: 1, high: 60, step: 1, unit: min}
"""
SIZE = "0.5x1.2x2.8mm"
SAMPLE = Sample.rectangular(0.5e-3, 1.2e-3, 2.8e-3)


def loop(tmp_path, name: str, jc0: float) -> object:
    H, m = bean_loop(lambda b: jc0 / (1 + b / 1.0), SAMPLE, b_max=7.0)
    n = len(H)
    return write_qd_dat(tmp_path / name, np.arange(n) * 2.0, np.full(n, 5.0), H * 1e4, m)


@pytest.fixture
def ba122(store) -> Campaign:
    c = Campaign.create(store, space_from_text(BA122))
    return c


def samples(c: Campaign, tmp_path) -> list[int]:
    path = write(tmp_path / "made.csv", "T_max,dwell_time,Jc_5K_3T\n600,10,\n650,20,\n700,5,\n")
    return c.import_file(path).experiment_ids


def test_samples_await_their_files(ba122, tmp_path):
    samples(ba122, tmp_path)
    assert [e.n for e in ba122.experiments()] == [0, 0, 0]
    st = ba122.status()
    assert st.experiments == 3 and st.measurements == 0 and st.best is None


def test_attached_loop_gives_jc_at_the_field_and_replicates(ba122, tmp_path):
    e1 = samples(ba122, tmp_path)[0]
    rep = ba122.attach(e1, loop(tmp_path, "a.dat", 3e8), properties={"size": SIZE})
    assert rep.value == pytest.approx(3e8 / 4 / 1e4, rel=0.01)  # Kim at 3 T, in A/cm2
    ba122.attach(e1, loop(tmp_path, "b.dat", 3.2e8), properties={"size": SIZE})
    exp = ba122.experiments()[0]
    assert exp.n == 2 and exp.mean == pytest.approx((7500 + 8000) / 2, rel=0.01)
    frame = ba122.experiments_frame()
    assert frame["raw_file"].iloc[0].startswith("sha256:")
    assert "derived: Jc at 3 T" in frame["note"].iloc[0]


def test_changed_dimensions_recompute_the_value(ba122, tmp_path):
    e1 = samples(ba122, tmp_path)[0]
    path = loop(tmp_path, "a.dat", 3e8)
    first = ba122.attach(e1, path, properties={"size": SIZE}).value
    # The same file with a corrected (twice as wide) sample: Jc ∝ 1 / (volume · a (1 - a/3b)).
    second = ba122.attach(e1, path, properties={"size": "1.0x2.4x2.8mm"}).value
    a, b = 0.5, 1.2
    expected = first / 4 * (a * (1 - a / (3 * b))) / (2 * a * (1 - 2 * a / (3 * 2 * b)))
    assert second == pytest.approx(expected, rel=1e-6)
    assert ba122.experiments()[0].n == 1


def test_files_are_stored_once_by_content(ba122, tmp_path):
    e1, e2, _ = samples(ba122, tmp_path)
    path = loop(tmp_path, "a.dat", 3e8)
    r1 = ba122.attach(e1, path, properties={"size": SIZE})
    r2 = ba122.attach(e2, path, properties={"size": SIZE})
    assert r1.stored_new_content and not r2.stored_new_content
    assert r1.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ba122.raw_file(r1.sha256) == path.read_bytes()


def test_missing_size_is_refused_and_nothing_is_written(ba122, tmp_path):
    e1 = samples(ba122, tmp_path)[0]
    with pytest.raises(DatarialError, match="sample size is needed"):
        ba122.attach(e1, loop(tmp_path, "a.dat", 3e8))
    with ba122.store.session() as s:
        from sqlalchemy import func, select

        from datarial.store.models import AttachmentRow, BlobRow

        assert s.scalar(select(func.count()).select_from(AttachmentRow)) == 0
        assert s.scalar(select(func.count()).select_from(BlobRow)) == 0


def test_unknown_experiment_is_refused(ba122, tmp_path):
    with pytest.raises(NotFoundError, match="experiment 99 is not part of campaign 'ba122'"):
        ba122.attach(99, loop(tmp_path, "a.dat", 3e8), properties={"size": SIZE})


def test_recompute_derived_reproduces_the_values(ba122, tmp_path):
    e1, e2, _ = samples(ba122, tmp_path)
    ba122.attach(e1, loop(tmp_path, "a.dat", 3e8), properties={"size": SIZE})
    ba122.attach(e2, loop(tmp_path, "b.dat", 2e8), properties={"size": SIZE})
    before = [e.mean for e in ba122.experiments()[:2]]
    assert ba122.recompute_derived() == 2
    assert [e.mean for e in ba122.experiments()[:2]] == pytest.approx(before)


def test_derived_values_train_the_model(ba122, tmp_path):
    ids = samples(ba122, tmp_path)
    for k, e in enumerate(ids):
        ba122.attach(e, loop(tmp_path, f"{k}.dat", (2 + k) * 1e8), properties={"size": SIZE})
    batch = ba122.propose(3, seed=0)
    assert batch.method == "model" and len(batch.proposals) == 3


def test_proposals_recorded_without_values_then_attached(ba122, tmp_path):
    samples(ba122, tmp_path)
    batch = ba122.propose(2, seed=0)
    frame = ba122.proposals_frame(batch.proposals)
    frame.to_csv(tmp_path / "made.csv", index=False)  # samples made, Jc column empty
    rep = ba122.record_file(tmp_path / "made.csv")
    assert rep.experiments == 2 and rep.measurements == 0 and not ba122.pending()
    new = [e for e in ba122.experiments() if e.source == "proposed"][0]
    ba122.attach(new.experiment_id, loop(tmp_path, "p.dat", 3e8), properties={"size": SIZE})
    assert [e for e in ba122.experiments() if e.experiment_id == new.experiment_id][0].n == 1


def test_plain_campaign_keeps_files_without_values(sqlite_store, mgb2_space, tmp_path):
    c = Campaign.create(sqlite_store, mgb2_space)
    eid = c.import_file(write(tmp_path / "d.csv", "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n700,60,0,9000\n")).experiment_ids[0]
    rep = c.attach(eid, write(tmp_path / "notes.txt", "furnace log"))
    assert rep.value is None and rep.kind == "file"
    assert c.status().measurements == 1


def test_tc_as_derived_objective(sqlite_store, tmp_path):
    space = space_from_text(BA122.replace("{name: Jc_5K_3T, unit: A/cm2, goal: maximize, derived: {quantity: jc, field: 3T}}",
                                          "{name: Tc, unit: K, goal: maximize, derived: {quantity: tc90}}"))
    c = Campaign.create(sqlite_store, space)
    eid = c.import_file(write(tmp_path / "made.csv", "T_max,dwell_time,Tc\n600,10,\n")).experiment_ids[0]
    T = np.linspace(2, 45, 300)
    mt = write_qd_dat(tmp_path / "mt.dat", np.arange(300.0), T, np.full(300, 10.0),
                      -1e-3 / (1 + np.exp((T - 37.5) / 0.6)), mode="DC")
    assert c.attach(eid, mt).value == pytest.approx(37.5 - 0.6 * np.log(9), abs=0.02)


def test_attach_and_derive_from_the_cli(capsys, tmp_path):
    db = str(tmp_path / "lab.db")
    (tmp_path / "ba122.yaml").write_text(BA122)
    run(capsys, "init", "ba122", "--space", str(tmp_path / "ba122.yaml"), "--db", db)
    run(capsys, "import", "ba122", str(write(tmp_path / "made.csv", "T_max,dwell_time,Jc_5K_3T\n600,10,\n")), "--db", db)
    code, out, _ = run(capsys, "attach", "ba122", "1", str(loop(tmp_path, "a.dat", 3e8)), "--size", SIZE, "--db", db)
    assert code == 0 and "Jc_5K_3T = 7500 A/cm2" in out
    code, _, err = run(capsys, "attach", "ba122", "1", str(loop(tmp_path, "b.dat", 2e8)), "--db", db)
    assert code == 2 and "sample size is needed" in err
    code, out, _ = run(capsys, "derive", "ba122", "--db", db)
    assert code == 0 and "Recomputed 1 derived measurements" in out
    exported = tmp_path / "out.csv"
    run(capsys, "export", "ba122", str(exported), "--db", db)
    assert pd.read_csv(exported)["Jc_5K_3T [A/cm2]"].iloc[0] == pytest.approx(7500, rel=0.01)

