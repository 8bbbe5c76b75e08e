"""Orientation maps: reading .ang/.ctf/.h5 through orix, grain reconstruction against known grains,
misorientation statistics, the grain-boundary transport fit, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("orix")

from orix import io as orix_io  # noqa: E402
from orix.quaternion import Orientation  # noqa: E402

from datarial.cli.main import main  # noqa: E402
from datarial.errors import DatarialError  # noqa: E402
from datarial.micro.grains import (  # noqa: E402
    fit_gb_transport,
    gb_transport,
    ipf_colors,
    random_misorientation_angles,
    read_orientation_map,
    reconstruct,
    summarize,
)
from datarial.micro.synthetic import orientation_map, to_crystal_map, write_ctf  # noqa: E402


@pytest.fixture(scope="module")
def synthetic():
    return orientation_map((80, 110), n_grains=25, scatter_deg=0.3, unindexed=0.01, low_angle=0.4, seed=3)


def write(m, path: Path) -> Path:
    if path.suffix == ".ctf":
        write_ctf(m, path)
    else:
        orix_io.save(str(path), to_crystal_map(m), overwrite=True)
    return path


@pytest.mark.parametrize("suffix", [".ang", ".ctf", ".h5"])
def test_maps_read_back_with_step_symmetry_and_orientations(tmp_path: Path, synthetic, suffix):
    om = read_orientation_map(write(synthetic, tmp_path / f"m{suffix}"), symmetry="4/mmm")
    assert om.shape == synthetic.grain_id.shape
    assert om.step == pytest.approx((0.1e-6, 0.1e-6), rel=1e-4)
    assert np.array_equal(om.mask, synthetic.indexed)
    got = Orientation(om.quaternions[om.mask], symmetry=om.orientations().symmetry)
    want = Orientation(synthetic.quaternions[synthetic.indexed], symmetry=got.symmetry)
    assert np.max(got.angle_with(want, degrees=True)) < 0.05  # file precision


def test_grains_match_the_known_grains(tmp_path: Path, synthetic):
    om = read_orientation_map(write(synthetic, tmp_path / "m.ctf"))
    gm = reconstruct(om, threshold=2.0, min_pixels=5)
    truth = synthetic.grain_id
    # every reconstructed grain lies inside one true grain, and each sizeable true grain is one grain
    for g in range(len(gm.grains)):
        inside = truth[gm.grain_id == g]
        assert np.bincount(inside).max() / len(inside) > 0.99
    sizes = np.bincount(truth.ravel())
    assert len(gm.grains) == pytest.approx(np.count_nonzero(sizes >= 20), abs=1)
    # areas within the unindexed share of the true cells
    for g, row in gm.grains.iterrows():
        t = np.bincount(truth[gm.grain_id == g]).argmax()
        assert row["pixels"] == pytest.approx(sizes[t], rel=0.05)


def test_boundary_misorientations_equal_those_of_the_known_grains(tmp_path: Path, synthetic):
    om = read_orientation_map(write(synthetic, tmp_path / "m.ang"), symmetry="4/mmm")
    gm = reconstruct(om, threshold=2.0)
    sym = om.orientations().symmetry
    truth = synthetic.grain_id
    rep = {g: np.bincount(truth[gm.grain_id == g]).argmax() for g in range(len(gm.grains))}
    q = synthetic.grain_quaternions
    for _, b in gm.boundaries.iterrows():
        ta, tb = rep[b["grain_a"]], rep[b["grain_b"]]
        want = Orientation(q[ta], symmetry=sym).angle_with(Orientation(q[tb], symmetry=sym), degrees=True)[0]
        assert b["misorientation_deg"] == pytest.approx(want, abs=1.0)
    assert (gm.boundaries["misorientation_deg"] < 15).any()  # the map has low-angle boundaries


def test_threshold_above_a_boundary_angle_merges_those_grains(tmp_path: Path, synthetic):
    om = read_orientation_map(write(synthetic, tmp_path / "m.ctf"))
    fine, coarse = reconstruct(om, threshold=2.0), reconstruct(om, threshold=20.0)
    n_low = int((fine.boundaries["misorientation_deg"] < 20).sum())
    assert n_low > 0
    assert len(coarse.grains) < len(fine.grains)
    assert coarse.edge_angles.min() >= 20.0


def test_random_misorientation_distribution_of_4mmm():
    ang = random_misorientation_angles("4/mmm", 100_000)
    assert 97.5 < ang.max() <= 98.43  # largest disorientation of 422 is 98.42°
    cubic = random_misorientation_angles("m-3m", 100_000)
    assert 62.0 < cubic.max() <= 62.81  # Mackenzie's cubic limit 62.8°
    assert np.mean(cubic) == pytest.approx(40.7, abs=0.3)


def test_summary_fractions_follow_the_boundary_angles(tmp_path: Path, synthetic):
    om = read_orientation_map(write(synthetic, tmp_path / "m.ctf"))
    gm = reconstruct(om, threshold=2.0)
    s = summarize(gm, critical_angle=9.0, decay=4.0)
    L, a = gm.edge_lengths, gm.edge_angles
    assert s.value("boundary length below 9° (critical angle)") == pytest.approx(L[a < 9].sum() / L.sum())
    eff = s.value("mean Jc,inter/Jc,intra (θc 9°, θ0 4°)")
    assert eff == pytest.approx(np.average(gb_transport(a, 9, 4), weights=L))
    assert s.value("grains") == len(gm.grains)
    assert s.value("mean grain diameter (equivalent circle)") == pytest.approx(
        np.mean(2 * np.sqrt(gm.grains["pixels"] * 0.01 / np.pi)), rel=1e-3)


def test_transport_fit_recovers_critical_angle_and_decay():
    rng = np.random.default_rng(0)
    theta = np.linspace(1, 40, 25)
    ratio = gb_transport(theta, 8.5, 4.0) * 10 ** rng.normal(0, 0.03, theta.size)
    fit = fit_gb_transport(theta, ratio)
    assert fit.theta_c == pytest.approx(8.5, abs=0.7)
    assert fit.theta_0 == pytest.approx(4.0, rel=0.1)
    assert fit.rmse == pytest.approx(0.03, abs=0.015)
    with pytest.raises(DatarialError, match="positive"):
        fit_gb_transport(theta, -ratio)


def test_ipf_colours_are_one_colour_per_grain(synthetic):
    from datarial.micro.grains import OrientationMap

    om = OrientationMap(synthetic.quaternions, synthetic.indexed, (1e-7, 1e-7), "4/mmm", "Ba122")
    rgb = ipf_colors(om)
    g = synthetic.grain_id
    big = np.bincount(g.ravel()).argmax()
    sel = (g == big) & synthetic.indexed
    assert rgb[sel].std(axis=0).max() < 0.05
    assert np.all(rgb[~synthetic.indexed] == 1.0)


def test_reading_refuses_unknown_files_and_phases(tmp_path: Path, synthetic):
    (tmp_path / "x.txt").write_text("nothing")
    with pytest.raises(DatarialError, match="orientation maps are read from"):
        read_orientation_map(tmp_path / "x.txt")
    path = write(synthetic, tmp_path / "m.ctf")
    with pytest.raises(DatarialError, match="no phase 'MgB2'"):
        read_orientation_map(path, phase="MgB2")
    with pytest.raises(DatarialError, match="unknown point group"):
        read_orientation_map(path, symmetry="5/mmm")
    (tmp_path / "bad.ang").write_text("# header only\n1 2 3\n")
    with pytest.raises(DatarialError, match="bad.ang: could not be read"):
        read_orientation_map(tmp_path / "bad.ang")


def test_cli_grains_and_gb_fit(tmp_path: Path, synthetic, capsys):
    path = write(synthetic, tmp_path / "m.ang")
    code = main(["micro", "grains", str(path), "--threshold", "2deg", "--symmetry", "4/mmm", "--decay", "4deg",
                 "--out", str(tmp_path / "s.csv"), "--grains-out", str(tmp_path / "g.csv"),
                 "--boundaries-out", str(tmp_path / "b.csv"), "--plots", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "boundary length below 9°" in out and "µm" in out
    assert (tmp_path / "s.csv").read_text().startswith("measure,value,unit")
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"m-maps.png", "m-distributions.png"}
    data = tmp_path / "gb.csv"
    data.write_text("angle,jc_ratio\n2,1\n6,1\n10,0.6\n15,0.18\n20,0.05\n30,0.004\n")
    assert main(["micro", "gb-fit", str(data), "--plot", str(tmp_path / "fit.png")]) == 0
    assert "θc =" in capsys.readouterr().out and (tmp_path / "fit.png").exists()
    data.write_text("angle,jc_ratio\n2,1\n6,high\n10,0.6\n")
    assert main(["micro", "gb-fit", str(data)]) == 2
    assert "row 3, column 'jc_ratio'" in capsys.readouterr().err
    assert main(["micro", "grains", str(path), "--threshold", "nine"]) == 2
    assert "--threshold" in capsys.readouterr().err
