"""Importing experiment tables (all or nothing), replicates, flags, export round trips."""

from __future__ import annotations

import pandas as pd
import pytest

from datarial.campaign import Campaign
from datarial.errors import DataFileError

from .conftest import write

GOOD = """
T_max [degC],t_hold [min],MgB2_frac [%],Jc_4p2K_7T [A/cm2],measured_by,note
550,0,0,1200.5,ana,
550,0,0,1300.5,ana,replicate
900,3000,10,3950,ben,
730,1500,30,8000,ben,centre
"""


def counts(c: Campaign) -> tuple[int, int]:
    st = c.status()
    return st.experiments, st.measurements


def test_import_groups_replicates_and_keeps_who_and_note(mgb2, tmp_path):
    rep = mgb2.import_file(write(tmp_path / "d.csv", GOOD))
    assert (rep.experiments, rep.measurements, rep.flagged) == (3, 4, 0)
    exps = {e.conditions["T_max"]: e for e in mgb2.experiments()}
    assert exps[550.0].n == 2 and exps[550.0].mean == pytest.approx(1250.5)
    frame = mgb2.experiments_frame()
    assert set(frame["measured_by"]) == {"ana", "ben"}
    assert "centre" in set(frame["note"])
    assert set(frame["source"]) == {"researcher"}


def test_boxvia_layout_reads_last_column_as_objective(mgb2, tmp_path):
    rep = mgb2.import_file(write(tmp_path / "boxvia.csv", "T_max,t_hold,MgB2_frac,y\n600,10,0,5\n610,20,10,6\n"))
    assert rep.measurements == 2
    assert "BOXVIA layout" in rep.notices[0]


def test_excel_import(mgb2, tmp_path):
    path = tmp_path / "d.xlsx"
    pd.DataFrame({"T_max": [600, 610], "t_hold": [10, 20], "MgB2_frac": [0, 30], "Jc_4p2K_7T": [5.0, 6.0]}).to_excel(path, index=False)
    assert mgb2.import_file(path).measurements == 2


def test_semicolon_separated_csv_is_read(mgb2, tmp_path):
    rep = mgb2.import_file(write(tmp_path / "eu.csv", "T_max;t_hold;MgB2_frac;Jc_4p2K_7T\n600;10;0;5\n"))
    assert rep.measurements == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5\n610,,0,6\n", "row 3, column 't_hold': missing value"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5\n610,20,0,abc\n", "row 3, column 'Jc_4p2K_7T': 'abc' is not a number"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5\n610,20,0,NaN\n", "row 3, column 'Jc_4p2K_7T': NaN is not a value"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5\n610,20,0,inf\n", "row 3, column 'Jc_4p2K_7T': 'inf' is not a finite number"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T,oven\n600,10,0,5,A\n", "row 1, column 'oven': unknown column"),
        ("T_max,t_hold,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,10,0,5\n", "row 1: duplicate column 't_hold' (columns 2 and 3)"),
        ("T_max,MgB2_frac,Jc_4p2K_7T\n600,0,5\n", "row 1: missing column for parameter 't_hold'"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,20,5\n", "row 2, column 'MgB2_frac': '20' is not one of the categories"),
        ("T_max [K],t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5\n", "column 'T_max [K]': unit 'K' differs from the campaign's 'degC'"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T,measured_at\n600,10,0,5,yesterday\n", "row 2, column 'measured_at': 'yesterday' is not a date/time"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,5,7\n", "row 2: 5 cells but the header has 4 columns"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n", "no data rows"),
        ("T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n600,10,0,\"1,5\"\n", "'1,5' is not a number"),
    ],
)
def test_bad_file_is_refused_whole_naming_row_and_column(mgb2, tmp_path, body, message):
    mgb2.import_file(write(tmp_path / "ok.csv", "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n700,60,0,9000\n"))
    before = counts(mgb2)
    path = write(tmp_path / "bad.csv", body)
    with pytest.raises(DataFileError) as err:
        mgb2.import_file(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))
    assert counts(mgb2) == before


def test_missing_file_is_reported(mgb2, tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        mgb2.import_file(tmp_path / "none.csv")


def test_binary_file_is_refused(mgb2, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(DataFileError, match="not a text table"):
        mgb2.import_file(path)


def test_off_grid_and_out_of_range_are_stored_flagged(mgb2, tmp_path):
    rep = mgb2.import_file(write(tmp_path / "d.csv", "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n705,60,0,9000\n950,60,0,100\n"))
    assert rep.flagged == 2
    flags = sorted(tuple(e.flags) for e in mgb2.experiments())
    assert flags == [("off-grid:T_max",), ("out-of-range:T_max",)]


def test_log_objective_refuses_non_positive_values(sqlite_store, tmp_path):
    from datarial.demo import EXAMPLES
    from datarial.space import load_space

    c = Campaign.create(sqlite_store, load_space(EXAMPLES / "ba122-sps.yaml"))
    with pytest.raises(DataFileError, match="row 2, column 'Jc_5K_3T'.*not positive"):
        c.import_file(write(tmp_path / "d.csv", "ramp_rate,T_max,dwell_time,Jc_5K_3T\n50,600,10,0\n"))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_import_round_trip_is_lossless(sqlite_store, mgb2_space, tmp_path, suffix):
    a = Campaign.create(sqlite_store, mgb2_space, name="a")
    a.import_file(write(tmp_path / "d.csv", GOOD.replace("1200.5", "1200.123456789012")))
    batch = a.propose(2, seed=1)
    res = a.proposals_frame(batch.proposals)
    res = pd.concat([res, res.iloc[[0]]], ignore_index=True)  # a replicate of the first proposal
    res["Jc_4p2K_7T [A/cm2]"] = [1.5e4, 2.25e4, 1.55e4]
    res.to_csv(tmp_path / "res.csv", index=False)
    a.record_file(tmp_path / "res.csv", by="carla")

    out1 = a.export(tmp_path / f"one{suffix}")
    b = Campaign.create(sqlite_store, mgb2_space, name="b")
    b.import_file(out1)
    out2 = b.export(tmp_path / f"two{suffix}")

    ids = ["experiment_id", "batch_id", "proposal_id"]
    f1 = pd.read_csv(out1) if suffix == ".csv" else pd.read_excel(out1)
    f2 = pd.read_csv(out2) if suffix == ".csv" else pd.read_excel(out2)
    pd.testing.assert_frame_equal(f1.drop(columns=ids), f2.drop(columns=ids))
    assert f1["Jc_4p2K_7T [A/cm2]"].iloc[0] == 1200.123456789012
    assert (f2["source"] == "proposed").sum() == 3
    assert b.status().measurements == a.status().measurements == 7
