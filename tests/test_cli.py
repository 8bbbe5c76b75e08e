"""The CLI contract: init, import, propose, record, status, export; one-line errors, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datarial.cli.main import main
from datarial.demo import MGB2_SPACE, mgb2_jc

from .conftest import write

DATA = "T_max,t_hold,MgB2_frac,Jc_4p2K_7T\n550,0,0,1000\n550,3000,0,2000\n900,0,0,1500\n900,3000,0,4000\n730,1500,0,8000\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "lab.db")


def test_full_loop_through_the_cli(capsys, tmp_path, db):
    assert run(capsys, "init", "mgb2", "--space", str(MGB2_SPACE), "--db", db)[0] == 0
    code, out, _ = run(capsys, "import", "mgb2", str(write(tmp_path / "d.csv", DATA)), "--db", db)
    assert code == 0 and "Imported 5 experiments (5 measurements)" in out

    props = tmp_path / "proposals.csv"
    code, out, _ = run(capsys, "propose", "mgb2", "--batch", "5", "--acq", "ei", "--seed", "3", "--out", str(props), "--db", db)
    assert code == 0 and "round 2" in out
    frame = pd.read_csv(props)
    assert list(frame.columns) == ["proposal_id", "batch_id", "round", "T_max [degC]", "t_hold [min]",
                                   "MgB2_frac [%]", "Jc_4p2K_7T [A/cm2]"]
    assert frame["Jc_4p2K_7T [A/cm2]"].isna().all() and len(frame) == 5

    # Fill in results with a replicate of every proposal.
    filled = pd.concat([frame, frame], ignore_index=True)
    filled["Jc_4p2K_7T [A/cm2]"] = mgb2_jc(filled["T_max [degC]"], filled["t_hold [min]"], filled["MgB2_frac [%]"])
    filled.to_csv(tmp_path / "results.csv", index=False)
    code, out, _ = run(capsys, "record", "mgb2", str(tmp_path / "results.csv"), "--db", db)
    assert code == 0 and "Recorded 5 experiments (10 measurements)" in out

    code, out, _ = run(capsys, "status", "mgb2", "--db", db)
    assert code == 0
    assert "experiments: 10 (5 researcher, 5 proposed" in out and "measurements: 15" in out
    assert "best so far [A/cm2]" in out

    code, out, _ = run(capsys, "export", "mgb2", str(tmp_path / "all.xlsx"), "--db", db)
    assert code == 0 and len(pd.read_excel(tmp_path / "all.xlsx")) == 15


def test_db_from_environment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DATARIAL_DB", str(tmp_path / "env.db"))
    assert run(capsys, "init", "mgb2", "--space", str(MGB2_SPACE))[0] == 0
    assert (tmp_path / "env.db").exists()
    assert "mgb2" in run(capsys, "list")[1]


def test_pending_shown_in_status_and_abandon(capsys, tmp_path, db):
    run(capsys, "init", "mgb2", "--space", str(MGB2_SPACE), "--db", db)
    run(capsys, "propose", "mgb2", "--batch", "2", "--seed", "1", "--db", db)
    out = run(capsys, "status", "mgb2", "--db", db)[1]
    assert "pending proposals: 2" in out and "Pending proposals" in out
    assert run(capsys, "abandon", "mgb2", "1", "--db", db)[0] == 0
    assert "pending proposals: 1" in run(capsys, "status", "mgb2", "--db", db)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "nope"], "no campaign 'nope'"),
        (["propose", "mgb2", "--batch", "50"], "--batch"),
        (["propose", "mgb2", "--acq", "magic"], "--acq"),
        (["propose", "mgb2", "--out", "x.pdf"], "--out: x.pdf should end in .csv or .xlsx"),
        (["import", "mgb2", "missing.csv"], "missing.csv: file not found"),
        (["init", "mgb2", "--space", "missing.yaml"], "missing.yaml: file not found"),
        (["init", "mgb2"], "--space"),
        (["export", "mgb2", "out.json"], "OUT: out.json should end in .csv or .xlsx"),
        (["frobnicate"], "No such command"),
    ],
)
def test_user_errors_are_one_line_with_status_2(capsys, db, args, message):
    run(capsys, "init", "mgb2", "--space", str(MGB2_SPACE), "--db", db)
    code, _, err = run(capsys, *args, "--db", db) if args[0] != "frobnicate" else run(capsys, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_bad_import_row_reported_and_nothing_written(capsys, tmp_path, db):
    run(capsys, "init", "mgb2", "--space", str(MGB2_SPACE), "--db", db)
    bad = write(tmp_path / "bad.csv", DATA + "600,10,0,oops\n")
    code, _, err = run(capsys, "import", "mgb2", str(bad), "--db", db)
    assert code == 2 and "row 7, column 'Jc_4p2K_7T': 'oops' is not a number" in err
    assert "measurements: 0" in run(capsys, "status", "mgb2", "--db", db)[1]


def test_console_script_exits_2_without_traceback(tmp_path):
    exe = Path(sys.executable).with_name("datarial")
    env = {**os.environ, "DATARIAL_DB": str(tmp_path / "x.db")}
    proc = subprocess.run([str(exe), "status", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: no campaign 'nope'")


def test_demo_runs_and_improves(capsys, tmp_path):
    from datarial.demo import run_demo

    rounds = run_demo(tmp_path / "demo.db", rounds=2, workdir=tmp_path / "out", echo=lambda s: None)
    assert [r.round for r in rounds] == [1, 2, 3]
    assert rounds[-1].best_so_far > rounds[0].best_so_far
    assert (tmp_path / "out" / "round-2-proposals.csv").exists()
