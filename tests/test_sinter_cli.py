"""``datarial sinter``: run, fit-anisotropy and assimilate from the command line; the anisotropy fit."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from datarial.errors import DataFileError, DatarialError
from datarial.sinter.anisotropy import (
    fit_anisotropy,
    gamma,
    parse_lattice,
    plane_normal,
    read_energies,
    wulff_radius,
)

from .conftest import write
from .test_cli import run

BA122 = (3.9625e-10, 13.0168e-10)
K_TRUE = np.array([1.2, 0.3, 0.15, -0.2])
PLANES = [(0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 0, 1), (1, 1, 2), (1, 0, 3), (2, 1, 0)]


def energies_csv(tmp_path, planes=PLANES, k=K_TRUE, extra=""):
    rows = ["h,k,l,energy"] + [f"{hkl[0]},{hkl[1]},{hkl[2]},{gamma(plane_normal(*hkl, *BA122), k)[0]:.6f}"
                               for hkl in planes]
    return write(tmp_path / "energies.csv", "\n".join(rows) + "\n" + extra)


def test_anisotropy_fit_recovers_known_coefficients(tmp_path):
    planes, values = read_energies(energies_csv(tmp_path))
    fit = fit_anisotropy(planes, values, *BA122)
    assert np.allclose(fit.k, K_TRUE, atol=1e-5)
    assert fit.rms < 1e-5
    assert np.allclose(plane_normal(0, 0, 1, *BA122), [0, 0, 1])
    # (101) of a tetragonal cell leans towards a: its normal is (1/a, 0, 1/c) normalised.
    n = plane_normal(1, 0, 1, *BA122)
    assert n[0] / n[2] == pytest.approx(BA122[1] / BA122[0])


def test_anisotropy_fit_says_which_coefficients_are_undetermined(tmp_path):
    planes, values = read_energies(energies_csv(tmp_path, planes=[(0, 0, 1), (1, 0, 0), (2, 0, 0)]))
    with pytest.raises(DatarialError, match="determine only 2 of k0…k3"):
        fit_anisotropy(planes, values, *BA122)


def test_isotropic_wulff_shape_is_a_sphere():
    d = np.random.default_rng(0).standard_normal((20, 3))
    r = wulff_radius(d, np.array([1.5, 0, 0, 0]))  # 4000 sampled normals: within 0.1 %
    assert np.all(r >= 1.5 - 1e-12) and np.allclose(r, 1.5, rtol=1e-3)


def test_bad_energy_tables_and_lattices_are_named(tmp_path):
    with pytest.raises(DataFileError, match=r"row 9, column 'energy': 'high' is not a number"):
        read_energies(energies_csv(tmp_path, extra="1,2,3,high\n"))
    with pytest.raises(DataFileError, match=r"row 2, column 'h': '1.5' is not a whole number"):
        read_energies(write(tmp_path / "e.csv", "h,k,l,energy\n1.5,0,0,1.0\n"))
    with pytest.raises(DataFileError, match="missing column"):
        read_energies(write(tmp_path / "e.csv", "h,k,energy\n1,0,1.0\n"))
    assert parse_lattice("a=3.9625A,c=1.30168nm") == pytest.approx((3.9625e-10, 1.30168e-9))
    with pytest.raises(DatarialError, match="--lattice needs both a and c"):
        parse_lattice("a=3.9625A")
    with pytest.raises(DatarialError, match="unit 'ft'"):
        parse_lattice("a=3ft,c=1nm")


def test_cli_fit_anisotropy(capsys, tmp_path):
    code, out, err = run(capsys, "sinter", "fit-anisotropy", str(energies_csv(tmp_path)),
                         "--lattice", "a=3.9625A,c=13.0168A", "--out", str(tmp_path / "k.csv"),
                         "--plot", str(tmp_path / "k.png"))
    assert code == 0, err
    assert "k0 = 1.2000 J/m²" in out and "RMS residual 0.0000 J/m²" in out
    assert "note:" not in out  # seven planes for four coefficients
    table = pd.read_csv(tmp_path / "k.csv")
    assert table["k3 [J/m2]"].iloc[0] == pytest.approx(-0.2, abs=1e-5)
    assert table[["h", "k", "l"]].dtypes.tolist() == [np.int64] * 3 and table["l"].tolist() == [1, 0, 0, 1, 2, 3, 0]
    assert (tmp_path / "k.png").stat().st_size > 1000
    # four planes determine the four coefficients exactly: zero residuals test nothing, and the run says so
    code, out, err = run(capsys, "sinter", "fit-anisotropy", str(energies_csv(tmp_path, planes=PLANES[:4])),
                         "--lattice", "a=3.9625A,c=13.0168A")
    assert code == 0, err
    assert "note: 4 planes for the 4 coefficients" in out
    assert any(line.split()[:3] == ["0", "0", "1"] for line in out.splitlines())  # Miller indices as whole numbers
    # (010) is (100) to γ(n): five rows, four distinct planes
    code, out, err = run(capsys, "sinter", "fit-anisotropy", str(energies_csv(tmp_path, planes=[*PLANES[:4], (0, 1, 0)])),
                         "--lattice", "a=3.9625A,c=13.0168A")
    assert code == 0, err
    assert "note: 5 planes (4 distinct in γ(n)) for the 4 coefficients" in out


RUN = """
grid: [40, 64]
start: {kind: two-particles, radius: 12, overlap: 2}
model: {M_surf: 4.0}
solver: {dtype: float32}
time: 4
snapshots: 2
assimilate:
  unknowns: {M_surf: {low: 0.5, high: 20}}
  sigma_r: 0.05
  trials: 6
"""


def test_cli_run_writes_snapshots_measures_and_figures(capsys, tmp_path):
    zarr = pytest.importorskip("zarr")
    cfg = write(tmp_path / "two.yaml", RUN)
    code, out, err = run(capsys, "sinter", "run", str(cfg))
    assert code == 0, err
    folder = tmp_path / "two"
    measures = pd.read_csv(folder / "measures.csv")
    assert list(measures["time [reduced]"]) == [0.0, 2.0, 4.0]
    assert measures["mass (sum of rho) [cells]"].std() < 1e-3 * measures["mass (sum of rho) [cells]"].mean()
    assert measures["neck radius [cells]"].iloc[-1] > measures["neck radius [cells]"].iloc[0]
    root = zarr.open_group(str(folder / "snapshots.zarr"), mode="r")
    assert root["rho"].shape == (3, 40, 64) and set(np.unique(root["grains"][2])) == {-1, 0, 1}
    assert (folder / "section_002.png").exists() and (folder / "snapshot_002.vti").read_text().startswith("<?xml")
    assert "2 grains in 2 order-parameter fields" in out

    # Twin experiment through the CLI: the run's snapshots are the observations.
    code, out, err = run(capsys, "sinter", "assimilate", str(cfg), str(folder), "--out", str(tmp_path / "da"))
    assert code == 0, err
    best = pd.read_csv(tmp_path / "da" / "best.csv")
    assert best["parameter"].tolist() == ["M_surf"]
    assert len(pd.read_csv(tmp_path / "da" / "history.csv")) == 6
    assert (tmp_path / "da" / "compare.png").exists() and (tmp_path / "da" / "cost_history.png").exists()
    assert "note:" not in out
    # An unknown L up to 100: the grain fields' SBDF2 sub-step (from the configured L = 10) is long at the top of
    # the range, and the run says which eta_step would keep the boundaries' speed there.
    with_l = write(tmp_path / "with_l.yaml", RUN.replace("{M_surf: {low: 0.5, high: 20}}",
                                                         "{M_surf: {low: 0.5, high: 20}, L: {low: 1, high: 100}}")
                   .replace("  trials: 6", "  trials: 2"))
    code, out, err = run(capsys, "sinter", "assimilate", str(with_l), str(folder), "--out", str(tmp_path / "dL"))
    assert code == 0, err
    assert "note:" in out and "solver.eta_step 0.0025" in " ".join(out.split())

    # The same with the grains told apart: the snapshots' grain maps are observed, and J counts wrong voxels
    # (½ per voxel / σ_L² = 200 per voxel).
    labelled = write(tmp_path / "labels.yaml",
                     RUN.replace("  trials: 6", "  trials: 3\n  observe: labels\n  sigma_labels: 0.05"))
    code, out, err = run(capsys, "sinter", "assimilate", str(labelled), str(folder), "--out", str(tmp_path / "dl"))
    assert code == 0, err
    j = pd.read_csv(tmp_path / "dl" / "history.csv")["J"].to_numpy()
    assert len(j) == 3 and np.allclose(j / 200.0, np.round(j / 200.0)) and j.max() > 0
    # Both: the same first (start-up) trials, each J the sum of the two runs' (the ρ and the grain maps).
    both = write(tmp_path / "both.yaml", RUN.replace("  trials: 6", "  trials: 3\n  observe: both\n  sigma_labels: 0.05"))
    code, out, err = run(capsys, "sinter", "assimilate", str(both), str(folder), "--out", str(tmp_path / "db"))
    assert code == 0, err
    j_both = pd.read_csv(tmp_path / "db" / "history.csv")["J"].to_numpy()
    j_occ = pd.read_csv(tmp_path / "da" / "history.csv")["J"].to_numpy()[:3]
    assert np.allclose(j_both, j_occ + j, rtol=1e-6)

    # Label volumes from observations.csv; a volume that holds no labels is named with its row.
    from datarial.sinter.output import read_observations

    maps = np.asarray(root["grains"][1:]) + 1
    for k, m in enumerate(maps):
        np.save(tmp_path / f"lab{k}.npy", m.astype(np.int32))
    write(tmp_path / "observations.csv", "time,file\n2,lab0.npy\n4,lab1.npy\n")
    obs = read_observations(tmp_path, (40, 64), "labels")
    assert np.array_equal(obs.labels, maps) and obs.times.tolist() == [2.0, 4.0]
    with pytest.raises(DataFileError, match=r"observations.csv: needs columns time,file,labels \(occupancy"):
        read_observations(tmp_path, (40, 64), "both")
    rho = np.asarray(root["rho"][1:])
    for k, r in enumerate(rho):
        np.save(tmp_path / f"occ{k}.npy", r)
    write(tmp_path / "observations.csv", "time,file,labels\n2,occ0.npy,lab0.npy\n4,occ1.npy,lab1.npy\n")
    obs = read_observations(tmp_path, (40, 64), "both")
    assert np.array_equal(obs.labels, maps) and np.allclose(obs.occupancy, np.clip(rho, 0, 1))
    np.save(tmp_path / "occ1.npy", rho[1] * 3.0)
    with pytest.raises(DataFileError, match=r"row 3, column 'file': occ1.npy has fractional values in .*: give occ"):
        read_observations(tmp_path, (40, 64), "both")
    np.save(tmp_path / "lab1.npy", maps[1] * 0.5)
    with pytest.raises(DataFileError, match=r"observations.csv: row 3, column 'labels': lab1.npy holds no labels"):
        read_observations(tmp_path, (40, 64), "labels")


@pytest.mark.parametrize("text, message", [
    ("grid: [40]\nstart: {kind: two-particles, radius: 5}\ntime: 1\n", "grid: give 2 or 3 whole numbers"),
    ("grid: [40, 64]\nstart: {kind: blob}\ntime: 1\n", "start.kind: one of"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\nmodel: {M_fast: 1}\n", "unknown parameter"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: -1\n", "time: must be positive"),
    ("grid: [40, 64]\nstart: {kind: two-particles}\ntime: 1\n", "needs 'radius'"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\nsolver: {method: magic}\n", "solver: solver method"),
    ("grid: [40, 64\n", "not valid YAML (line"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\nanisotropy: [1, 2]\n", "anisotropy: four numbers"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\nread_shockley: {theta_max: 15}\n",
     "read_shockley: give symmetry"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\nread_shockley: {symmetry: m-3x}\n",
     "read_shockley.symmetry: unknown point group 'm-3x'"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\n"
     "read_shockley: {symmetry: m-3m, theta_max: 15 K}\n", "read_shockley.theta_max: unit 'K'"),
    ("grid: [40, 64]\nstart: {kind: two-particles, radius: 5}\ntime: 1\n"
     "read_shockley: {symmetry: m-3m, theta_max: 90}\n", "beyond any misorientation"),
])
def test_bad_run_configs_name_the_field(capsys, tmp_path, text, message):
    cfg = write(tmp_path / "bad.yaml", text)
    code, _, err = run(capsys, "sinter", "run", str(cfg))
    assert code == 2 and message in err
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_material_block_maps_physical_inputs(tmp_path):
    from datarial.sinter.config import load_config

    cfg = load_config(write(tmp_path / "cu.yaml", RUN.split("assimilate")[0] + """
material:
  temperature: 350 degC
  spacing: 2 nm
  gamma_s: 1.7
  gamma_gb: 0.6
  molar_volume: 7.1e-6
  D_surf: {D0: 2.6e-4, Q: 205e3}
  D_gb: {D0: 4.0e-6, Q: 108e3}
  D_vol: {D0: 7.8e-5, Q: 211e3}
"""))
    assert cfg.time_unit_s > 0 and cfg.spacing_m == pytest.approx(2e-9)
    assert max(cfg.params.M_surf, cfg.params.M_gb, cfg.params.M_vol) == pytest.approx(1.0)
    assert not math.isclose(cfg.params.kappa_eta, 5.0)  # fitted to γ_gb/γ_s
    block = (tmp_path / "cu.yaml").read_text().rstrip()
    thick = load_config(write(tmp_path / "thick.yaml", block + "\n  delta_s: 1 nm\n  delta_gb: 0.5 nm\n"))
    # twice the surface layer: twice the surface transport, against the volume path's unchanged one
    assert thick.params.M_surf / thick.params.M_vol == pytest.approx(2 * cfg.params.M_surf / cfg.params.M_vol, rel=1e-9)
    for extra, message in (("  delta_s: -1 nm", "material.delta_s"), ("  delta_gb: 5 kg", "material.delta_gb"),
                           ("  D_sruf: {D0: 1}", "unknown field(s) D_sruf")):
        with pytest.raises(DatarialError, match=re.escape(message)):
            load_config(write(tmp_path / "bad.yaml", block + "\n" + extra + "\n"))


def test_cli_run_attaches_its_final_measures_to_an_experiment(capsys, tmp_path):
    db = str(tmp_path / "lab.db")
    space = write(tmp_path / "space.yaml", "name: sps\nobjective: {name: Jc, unit: A/cm2, goal: maximize}\n"
                                           "parameters:\n  - {name: T_max, low: 500, high: 800, step: 5, unit: degC}\n")
    assert run(capsys, "init", "sps", "--space", str(space), "--db", db)[0] == 0
    assert run(capsys, "import", "sps", str(write(tmp_path / "made.csv", "T_max,Jc\n600,1.0e5\n")), "--db", db)[0] == 0
    cfg = write(tmp_path / "two.yaml", RUN.split("assimilate")[0])
    code, _, err = run(capsys, "sinter", "run", str(cfg), "--attach", "sps", "99", "--db", db, "--no-vtk")
    assert code == 2 and "99" in err and not (tmp_path / "two").exists()  # checked before the run
    code, out, err = run(capsys, "sinter", "run", str(cfg), "--attach", "sps", "1", "--db", db, "--no-vtk")
    assert code == 0, err
    from datarial.campaign import Campaign
    from datarial.store import Store

    d = Campaign.open(Store(db), "sps").descriptors_frame().set_index("name")
    assert d.loc["sinter relative density", "unit"] == "1" and 0 < d.loc["sinter relative density", "value"] < 1
    assert d.loc["sinter neck radius", "unit"] == "cells" and d.loc["sinter time", "value"] == pytest.approx(4.0)
    assert d.loc["sinter time", "source"] == "sinter run two.yaml"


@pytest.mark.parametrize("name", ["sinter-neck-2d.yaml", "sinter-cu-24.yaml"])
def test_example_configs_are_valid(name):
    from pathlib import Path

    from datarial.sinter.config import load_config

    cfg = load_config(Path(__file__).parent.parent / "examples" / name)
    assert cfg.time > 0 and cfg.assimilate and len(cfg.assimilate.unknowns) >= 2


def test_cli_run_with_read_shockley_boundaries(capsys, tmp_path):
    cfg = write(tmp_path / "rs.yaml", RUN.split("assimilate")[0].replace("time: 4", "time: 1")
                + "read_shockley: {theta_max: 0.26 rad, symmetry: m-3m}\n")
    from datarial.sinter.config import load_config

    assert load_config(cfg).read_shockley == pytest.approx((math.degrees(0.26), "m-3m"))
    code, out, err = run(capsys, "sinter", "run", str(cfg), "--no-vtk")
    assert code == 0, err
    assert "Read–Shockley boundary energies" in out and "grain pairs below θ_m" in out


def test_solver_eta_step_and_scheme_are_read_and_checked():
    from datarial.sinter.config import parse_config

    base = {"grid": [32, 48], "start": {"kind": "two-particles", "radius": 8}, "time": 1}
    assert parse_config({**base, "solver": {"dt": 0.1, "eta_step": 0.01}}).solver.eta_step == 0.01
    assert parse_config(base).solver.eta_step is None
    with pytest.raises(DatarialError, match=r"run\.yaml: solver: eta_step"):
        parse_config({**base, "solver": {"eta_step": -1}}, "run.yaml")
    assert parse_config({**base, "solver": {"eta_scheme": "sbdf2"}}).solver.eta_scheme == "sbdf2"
    assert parse_config(base).solver.eta_scheme == "sbdf2"
    assert parse_config({**base, "solver": {"eta_scheme": "split"}}).solver.eta_scheme == "split"
    with pytest.raises(DatarialError, match=r"run\.yaml: solver: eta_scheme 'bdf'"):
        parse_config({**base, "solver": {"eta_scheme": "bdf"}}, "run.yaml")
    assert parse_config({**base, "solver": {"rho_stabiliser": 0.6}}).solver.rho_stabiliser == 0.6
    with pytest.raises(DatarialError, match=r"run\.yaml: solver: rho_stabiliser 0.3"):
        parse_config({**base, "solver": {"rho_stabiliser": 0.3}}, "run.yaml")
    with pytest.raises(DatarialError, match=r"run\.yaml: solver: rho_stabiliser 0.6 with order 2: at least 0.75"):
        parse_config({**base, "solver": {"rho_stabiliser": 0.6, "order": 2}}, "run.yaml")
    assert parse_config({**base, "solver": {"rho_stabiliser": 0.75, "order": 2}}).solver.rho_stabiliser == 0.75


def test_cli_run_with_sbdf2_grain_fields_says_so_and_keeps_mass(capsys, tmp_path):
    cfg = write(tmp_path / "sb.yaml", RUN.split("assimilate")[0].replace("time: 4", "time: 1").replace(
        "solver: {dtype: float32}",
        "solver: {dt: 0.05, adaptive: false, eta_scheme: sbdf2, eta_step: 0.025, rho_stabiliser: 0.6}"))
    code, out, err = run(capsys, "sinter", "run", str(cfg), "--no-vtk")
    assert code == 0, err
    assert ("spectral solver (order 1; grain fields by SBDF2, sub-steps ≤ 0.025; density stabiliser 0.6 × max M), "
            "float64") in out
    assert "20 steps (0 rejected)" in out
    change = float(re.search(r"mass change ([-+0-9.e]+)", out).group(1))
    assert abs(change) < 1e-10
