"""``datarial magnet`` commands end to end on synthetic instrument files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datarial.io.qd_dat import write_qd_dat
from datarial.magnet.bean import Sample, bean_loop

from .test_cli import run


@pytest.fixture
def loop_dat(tmp_path):
    sample = Sample.rectangular(0.5e-3, 1.2e-3, 2.8e-3)
    H, m = bean_loop(lambda b: 3e8 / (1 + b / 1.0), sample, b_max=7.0)
    n = len(H)
    return write_qd_dat(tmp_path / "loop.dat", np.arange(n) * 2.0, np.full(n, 5.0), H * 1e4, m)


def test_jc_command_reports_and_writes_curve_and_plot(capsys, tmp_path, loop_dat):
    code, out, _ = run(capsys, "magnet", "jc", str(loop_dat), "--size", "0.5x1.2x2.8mm", "--field", "3T",
                       "--out", str(tmp_path / "jc.csv"), "--plot", str(tmp_path / "jc.png"))
    assert code == 0
    assert "Jc(3 T) = 7500 A/cm2" in out
    curve = pd.read_csv(tmp_path / "jc.csv")
    assert list(curve.columns) == ["B [T]", "Jc [A/cm2]", "delta_M [emu/cm3]"]
    assert (tmp_path / "jc.png").read_bytes()[:4] == b"\x89PNG"


def test_trapped_from_a_measured_curve(capsys, tmp_path, loop_dat):
    run(capsys, "magnet", "jc", str(loop_dat), "--size", "0.5x1.2x2.8mm", "--out", str(tmp_path / "jc.csv"))
    code, out, _ = run(capsys, "magnet", "trapped", "--radius", "15mm", "--thickness", "6mm", "--gap", "1.2mm",
                       "--disks", "2", "--jc-curve", str(tmp_path / "jc.csv"), "--target", "2T",
                       "--plot", str(tmp_path / "t.png"))
    assert code == 0
    assert "B_z at the gap centre" in out and "self-consistent" in out and "to trap 2 T at the gap centre" in out
    assert (tmp_path / "t.png").exists()


def test_trapped_uniform_and_simple_estimate(capsys):
    code, out, _ = run(capsys, "magnet", "trapped", "--radius", "15mm", "--thickness", "6mm", "--jc", "3e4A/cm2")
    assert code == 0
    assert "B_z at the top surface (z = 6 mm): 1.8630 T" in out
    assert "mu0*Jc*r = 5.6549 T" in out


def test_tc_and_creep_commands(capsys, tmp_path):
    T = np.linspace(2, 45, 300)
    mt = write_qd_dat(tmp_path / "mt.dat", np.arange(300.0), T, np.full(300, 10.0),
                      -1e-3 / (1 + np.exp((T - 37.5) / 0.6)), mode="DC")
    code, out, _ = run(capsys, "magnet", "tc", str(mt), "--plot", str(tmp_path / "tc.png"))
    assert code == 0 and "Tc90 36.18 K" in out
    t = np.geomspace(60, 4 * 86400, 100)
    pd.DataFrame({"Time (s)": t, "Field (T)": 1.5 - 0.004 * np.log(t)}).to_csv(tmp_path / "c.csv", index=False)
    code, out, _ = run(capsys, "magnet", "creep", str(tmp_path / "c.csv"), "--at", "3d")
    assert code == 0 and "ppm/h" in out and "exceeds the 0.1 ppm/h MRI requirement" in out


@pytest.mark.parametrize(("args", "message"), [
    (["magnet", "trapped", "--radius", "15", "--thickness", "6mm", "--jc", "3e4A/cm2"], "--radius: '15' has no unit"),
    (["magnet", "trapped", "--radius", "15mm", "--thickness", "6mm"], "exactly one of --jc or --jc-curve"),
    (["magnet", "trapped", "--radius", "15mm", "--thickness", "6mm", "--jc", "3e4A/cm"], "not a current density unit"),
    (["magnet", "jc", "LOOP", "--size", "0.5x1.2mm"], "a rectangular sample needs a x b x c"),
    (["magnet", "jc", "LOOP", "--size", "0.5x1.2x2.8mm", "--field", "9T"], "outside the loop's field range"),
    (["magnet", "jc", "missing.dat", "--size", "1x1x1mm"], "missing.dat: file not found"),
])
def test_magnet_user_errors(capsys, loop_dat, args, message):
    args = [str(loop_dat) if a == "LOOP" else a for a in args]
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1
