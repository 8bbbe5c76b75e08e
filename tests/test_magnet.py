"""Magnetometer files, the extended Bean model, Tc, flux creep and the trapped-field solver."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from datarial.errors import DataFileError, DatarialError
from datarial.io.qd_dat import read_measurement, read_qd_dat, write_qd_dat
from datarial.magnet.bean import Sample, bean_loop, jc_from_loop, split_branches
from datarial.magnet.creep import fit_creep
from datarial.magnet.tc import tc_from_mt
from datarial.magnet.trapped import (
    Disk,
    axial_field_uniform,
    disk_stack,
    jc_for_target,
    loop_field,
    solve_trapped_field,
)
from datarial.units import MU0, parse_dimensions, parse_list, parse_quantity

RECT = Sample.rectangular(0.5e-3, 1.2e-3, 2.8e-3)


def kim(jc0=3e8, b0=1.0):
    return lambda b: jc0 / (1 + np.abs(b) / b0)


def loop_file(tmp_path, sample=RECT, jc=None, **kw):
    H, m = bean_loop(jc or kim(), sample, b_max=7.0, background=lambda h: -800 * h)
    n = len(H)
    return write_qd_dat(tmp_path / "loop.dat", np.arange(n) * 2.0, np.full(n, 5.0), H * 1e4, m, **kw)


# -- readers --------------------------------------------------------------------------------
def test_mpms3_file_is_read_with_header_units_and_empty_comment_column(tmp_path):
    path = loop_file(tmp_path, info={"SAMPLE_SIZE": "0.5 x 1.2 x 2.8 mm", "SAMPLE_MATERIAL": "Ba122 °µ"})
    data = read_qd_dat(path)
    assert data.info["SAMPLE_SIZE"] == "0.5 x 1.2 x 2.8 mm"
    assert data.info["SAMPLE_MATERIAL"] == "Ba122 °µ"  # Latin-1 header text
    assert data.header["BYAPP"] == "MPMS3,1.0.0 Build 1"
    assert np.isnan(data.columns.get("Comment", np.array([np.nan]))).all()  # the empty leading column is harmless
    assert data.units["Moment (emu)"] == "emu"
    assert data.field().max() == pytest.approx(7.0)  # Oe → T
    assert np.isnan(data.columns["Frequency (Hz)"]).all()  # empty cells are NaN


def test_dc_moment_column_is_used_when_vsm_moment_is_empty(tmp_path):
    path = write_qd_dat(tmp_path / "dc.dat", [1, 2, 3], [5, 5, 5], [0, 10, 20], [1e-3, 2e-3, 3e-3], mode="DC")
    data = read_qd_dat(path)
    np.testing.assert_allclose(data.moment(), [1e-3, 2e-3, 3e-3])


def test_truncated_last_row_is_dropped_with_a_warning(tmp_path):
    path = loop_file(tmp_path, crlf=False)
    lines = path.read_text(encoding="latin-1").splitlines()
    lines[-1] = ",".join(lines[-1].split(",")[:4])  # the aborted sweep's last row stops after 4 cells
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    data = read_qd_dat(path)
    assert f"line {len(lines)}: incomplete last row (4 of 41 cells" in data.warnings[0]
    assert len(data) == 999  # 1000 rows written, the cut one dropped


def test_not_a_dat_file_names_the_line(tmp_path):
    path = tmp_path / "x.dat"
    path.write_text("\n\nhello,world\n1,2\n")
    with pytest.raises(DataFileError, match=r"line 3: expected '\[Header\]'"):
        read_qd_dat(path)


def test_missing_data_section_is_refused(tmp_path):
    path = tmp_path / "x.dat"
    path.write_text("[Header]\nINFO,1,SAMPLE_MASS\n")
    with pytest.raises(DataFileError, match=r"no '\[Data\]' section"):
        read_qd_dat(path)


def test_bad_number_names_line_and_column(tmp_path):
    path = write_qd_dat(tmp_path / "x.dat", [1, 2, 3], [5, 5, 5], [0, 10, 20], [1e-3, 2e-3, 3e-3], crlf=False)
    lines = path.read_text(encoding="latin-1").splitlines()
    lines[-2] = lines[-2].replace(",5.0,", ",five,", 1)
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DataFileError, match=rf"line {len(lines) - 1}, column 'Temperature \(K\)': 'five' is not a number"):
        read_qd_dat(path)


def test_plain_csv_with_units_in_header(tmp_path):
    path = tmp_path / "loop.csv"
    path.write_text("Field (T),M (emu)\n0,1e-3\n1,2e-3\n")
    data = read_measurement(path)
    np.testing.assert_allclose(data.field(), [0, 1])
    np.testing.assert_allclose(data.moment(), [1e-3, 2e-3])


def test_unknown_unit_in_column_is_refused(tmp_path):
    path = tmp_path / "loop.csv"
    path.write_text("Field (furlong),M (emu)\n0,1e-3\n1,2e-3\n")
    with pytest.raises(DataFileError, match="no magnetic field column"):
        read_measurement(path).field()


# -- extended Bean model --------------------------------------------------------------------
@pytest.mark.parametrize("b", [0.5, 1.0, 3.0, 5.0, 6.5])
def test_known_jc_is_recovered_within_1_percent_from_a_dat_file(tmp_path, b):
    data = read_qd_dat(loop_file(tmp_path))
    curve = jc_from_loop(data.field(), data.moment(), RECT)
    assert curve.at(b)[0] == pytest.approx(kim()(b), rel=0.01)
    assert curve.virgin_ignored


@pytest.mark.parametrize("sample", [Sample.cylinder(1.0e-3, 2e-3), Sample.from_dims((0.8e-3, 2e-3), "square"),
                                    Sample.rectangular(1.2e-3, 0.5e-3, 2.8e-3)])
def test_other_geometries_recover_jc(sample):
    H, m = bean_loop(kim(), sample)
    curve = jc_from_loop(H, m, sample)
    assert curve.at(3.0)[0] == pytest.approx(kim()(3.0), rel=0.01)


def test_bean_formula_in_practical_units():
    # Jc = 20 ΔM / (a (1 - a/3b)) with ΔM = 100 emu/cm3, a = 0.05 cm, b = 0.12 cm.
    expected = 20 * 100 / (0.05 * (1 - 0.05 / 0.36))  # A/cm2
    assert 100 * 1e3 * RECT.jc_per_delta_m() / 1e4 == pytest.approx(expected)


def test_branches_are_split_at_reversals():
    H, m = bean_loop(kim(), RECT, n=100)
    dirs = [b.direction for b in split_branches(H, m * 1e3 / RECT.volume)]
    assert dirs == ["up", "down", "up"]


def test_field_outside_the_loop_gives_nan():
    H, m = bean_loop(kim(), RECT, b_max=5.0)
    assert np.isnan(jc_from_loop(H, m, RECT).at(6.0)[0])


def test_one_branch_only_is_refused():
    H = np.linspace(0, 5, 50)
    with pytest.raises(DatarialError, match="needs both a decreasing- and an increasing-field branch"):
        jc_from_loop(H, -H * 1e-3, RECT)


# -- Tc ---------------------------------------------------------------------------------------
def test_tc90_and_width_of_a_known_transition():
    T = np.linspace(2, 45, 400)
    w, t0 = 0.6, 37.5
    m = -1e-3 / (1 + np.exp((T - t0) / w)) + 2e-7
    res = tc_from_mt(T, m)
    assert res.t_c90 == pytest.approx(t0 - w * np.log(9), abs=0.02)
    assert res.t_c10 == pytest.approx(t0 + w * np.log(9), abs=0.02)
    assert res.width == pytest.approx(2 * w * np.log(9), abs=0.04)
    # Tangent construction: the steepest slope 1/(4w) at f = 0.5 meets f = 0 at t0 + 2w.
    assert res.t_onset == pytest.approx(t0 + 2 * w, abs=0.05)


def test_flat_curve_has_no_transition():
    with pytest.raises(DatarialError, match="no transition"):
        tc_from_mt(np.linspace(2, 40, 50), np.full(50, 1e-5))


# -- creep ------------------------------------------------------------------------------------
def test_creep_fit_recovers_rate_and_decay():
    t = np.geomspace(60, 86400 * 3, 200)
    res = fit_creep(t, 1.5 - 0.004 * np.log(t))
    assert (res.b0, res.b) == pytest.approx((1.5, 0.004))
    assert res.s == pytest.approx(0.004 / (1.5 - 0.004 * np.log(60)))
    at = 86400 * 3
    assert res.decay_ppm_per_hour(at) == pytest.approx(0.004 / (at * (1.5 - 0.004 * np.log(at))) * 3.6e9)
    t_ok = res.time_to_reach(0.1)
    assert res.decay_ppm_per_hour(t_ok) == pytest.approx(0.1, rel=1e-4)


def test_creep_needs_positive_times():
    with pytest.raises(DatarialError, match="must be positive"):
        fit_creep(np.array([0.0, 1, 2]), np.array([1.0, 0.9, 0.8]))


# -- trapped field ----------------------------------------------------------------------------
R, T_DISK, JC = 15e-3, 6e-3, 3e8


def test_top_surface_formula():
    b = axial_field_uniform(disk_stack(R, T_DISK), JC, np.array([T_DISK]))[0]
    assert b == pytest.approx(MU0 * JC * T_DISK / 2 * np.log((R + np.hypot(R, T_DISK)) / T_DISK), rel=1e-12)


@pytest.mark.parametrize("z", [-4e-3, 1.0e-3, 3e-3, 6e-3, 7.2e-3, 20e-3])
def test_axial_field_matches_brute_force_integration(z):
    def integrand(zp, r):
        return MU0 * JC * r**2 / (2 * (r**2 + (z - zp) ** 2) ** 1.5)

    brute, _ = integrate.dblquad(integrand, 0, R, 0, T_DISK, epsabs=1e-12, epsrel=1e-10)
    exact = axial_field_uniform(disk_stack(R, T_DISK), JC, np.array([z]))[0]
    assert exact == pytest.approx(brute, rel=1e-6)


def test_long_cylinder_limit():
    b = axial_field_uniform([Disk(R, 4.0, -2.0)], JC, np.array([0.0]))[0]
    assert b == pytest.approx(MU0 * JC * R, rel=0.005)


def test_far_field_is_a_dipole():
    z = 3.0
    b = axial_field_uniform([Disk(R, T_DISK, -T_DISK / 2)], JC, np.array([z]))[0]
    moment = np.pi * JC * T_DISK * R**3 / 3  # ∫ π r² J dr dz
    assert b == pytest.approx(MU0 * moment / (2 * np.pi * z**3), rel=0.005)


def test_thin_disk_limit_at_mid_plane():
    t = R / 1000
    b = axial_field_uniform([Disk(R, t, -t / 2)], JC, np.array([0.0]))[0]
    assert b == pytest.approx(MU0 * JC * t / 2 * np.log(4 * R / t), rel=0.005)


def test_pair_with_gap_is_the_sum_of_two_disks():
    pair = disk_stack(R, T_DISK, 2, 1.2e-3)
    z = np.array([T_DISK + 0.6e-3])
    single = axial_field_uniform([pair[0]], JC, z) + axial_field_uniform([pair[1]], JC, z)
    assert axial_field_uniform(pair, JC, z)[0] == pytest.approx(single[0])
    sol = solve_trapped_field(pair, JC)
    assert sol.at(sol.key_points()["gap centre"])[0] == pytest.approx(single[0])


def test_loop_field_matches_biot_savart_off_axis():
    a, r, z = 0.01, 0.005, 0.003
    phi = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    src = np.stack([a * np.cos(phi), a * np.sin(phi), np.zeros_like(phi)], 1)
    dl = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], 1) * a * (2 * np.pi / len(phi))
    rel = np.array([r, 0, z]) - src
    b = MU0 / (4 * np.pi) * np.sum(np.cross(dl, rel) / np.linalg.norm(rel, axis=1)[:, None] ** 3, 0)
    br, bz = loop_field(a, 0.0, 1.0, r, z)
    assert (float(br), float(bz)) == pytest.approx((b[0], b[2]), rel=1e-6)


def test_field_independent_model_reproduces_uniform_solution():
    sol = solve_trapped_field(disk_stack(R, T_DISK), kim(JC, 1e9), n_r=12, n_z=4)
    exact = axial_field_uniform(disk_stack(R, T_DISK), JC, sol.z)
    np.testing.assert_allclose(sol.bz, exact, rtol=1e-6)


def test_self_consistent_currents_satisfy_jc_of_local_field():
    jc_b = kim(JC, 0.5)
    sol = solve_trapped_field(disk_stack(R, T_DISK), jc_b, n_r=16, n_z=6)
    # Below the uniform-Jc0 field, and J = Jc(|B|) at the ring centres.
    uniform = axial_field_uniform(disk_stack(R, T_DISK), JC, np.array([T_DISK]))[0]
    assert 0.2 * uniform < sol.at(T_DISK)[0] < uniform
    assert sol.ring_j.min() < sol.ring_j.max() < JC


def test_inverse_gives_the_jc_that_traps_the_target():
    pair = disk_stack(R, T_DISK, 2, 1.2e-3)
    zc = T_DISK + 0.6e-3
    need = jc_for_target(pair, 2.0, zc)
    assert axial_field_uniform(pair, need, np.array([zc]))[0] == pytest.approx(2.0)
    jc0 = jc_for_target(pair, 2.0, zc, kim(1e8, 1.0), n_r=10, n_z=4)
    sol = solve_trapped_field(pair, kim(jc0, 1.0), n_r=10, n_z=4, z=np.array([zc]))
    assert sol.bz[0] == pytest.approx(2.0, rel=1e-4)


# -- units ------------------------------------------------------------------------------------
def test_units_are_parsed_to_si():
    assert parse_dimensions("0.5x1.2x2.8mm") == pytest.approx((0.5e-3, 1.2e-3, 2.8e-3))
    assert parse_dimensions("1cm x 2 mm") == pytest.approx((1e-2, 2e-3))
    assert parse_quantity("3T", "magnetic field") == 3.0
    assert parse_quantity("30 kOe", "magnetic field") == pytest.approx(3.0)
    assert parse_quantity("3e4A/cm2", "current density") == pytest.approx(3e8)
    assert parse_quantity("3d", "time") == 3 * 86400
    assert parse_list("1,3,5T", "magnetic field", what="--field") == [1.0, 3.0, 5.0]


@pytest.mark.parametrize(("text", "dim", "message"), [
    ("3", "magnetic field", "has no unit"),
    ("3 parsec", "length", "is not a length unit"),
    ("abc", "time", "is not a number with a unit"),
    ("3A/cm", "current density", "is not a current density unit"),
])
def test_wrong_or_missing_units_are_refused(text, dim, message):
    with pytest.raises(DatarialError, match=message):
        parse_quantity(text, dim)
