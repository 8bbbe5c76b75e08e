"""The sharp-interface references for the two-cylinder (and two-sphere) neck."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datarial.errors import DatarialError
from datarial.sinter import sharp


def _alpha(n: int) -> np.ndarray:
    return np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)


def test_normal_derivative_of_harmonic_functions_on_a_non_convex_curve_is_spectrally_accurate():
    a = _alpha(128)
    z = (1.0 + 0.3 * np.cos(3 * a)) * np.exp(1j * a)  # a three-lobed, non-convex curve
    normal = sharp._outward_normal(z)
    for mu, grad in ((z.real**2 - z.imag**2, 2 * z.real - 2j * z.imag),
                     (np.exp(z.real) * np.cos(z.imag), np.exp(z.real) * (np.cos(z.imag) - 1j * np.sin(z.imag)))):
        exact = (grad * np.conj(normal)).real  # ∇μ · n with ∇μ as the complex number μ_x + iμ_y
        assert np.abs(sharp.normal_derivative(z, mu) - exact).max() < 1e-8


def test_a_circle_is_still_and_a_perturbed_one_decays_at_the_mullins_sekerka_rate():
    a = _alpha(64)
    assert np.abs(sharp.volume_diffusion_velocity(2.0 * np.exp(1j * a))).max() < 1e-9
    eps, m = 1e-5, 4
    v = sharp.volume_diffusion_velocity((1.0 + eps * np.cos(m * a)) * np.exp(1j * a))
    # R = 1 + ε cos mθ: κ = 1 + ε(m² − 1)cos mθ, μ = 1 + ε(m² − 1) rᵐ cos mθ inside, so V = −ε m(m² − 1) cos mθ
    expected = -eps * m * (m * m - 1) * np.cos(m * a)
    assert np.abs(v - expected).max() < 1e-3 * np.abs(expected).max()


def test_surface_diffusion_keeps_a_circle_and_damps_a_perturbation_at_the_mullins_rate():
    a = _alpha(64)
    assert np.abs(sharp.surface_diffusion_velocity(2.0 * np.exp(1j * a))).max() < 1e-9
    eps, m = 1e-5, 4
    v = sharp.surface_diffusion_velocity((1.0 + eps * np.cos(m * a)) * np.exp(1j * a))
    # κ = 1 + ε(m² − 1)cos mθ, so V = ∂²κ/∂s² = −ε m²(m² − 1) cos mθ
    expected = -eps * m * m * (m * m - 1) * np.cos(m * a)
    assert np.abs(v - expected).max() < 1e-3 * np.abs(expected).max()


@pytest.mark.parametrize("offset", [0.0, 0.3])  # points on the axis, or none on it
def test_spheres_are_still_and_their_legendre_modes_decay_at_the_mullins_rates(offset):
    """A sphere's meridian rotated about the real axis: volume 4πR³/3, at rest; R(1 + ε P_l(cos θ)) moves with
    V = −ε R l(l + 1)(l(l + 1) − 2)/R⁴ P_l (Mullins' rates for a sphere)."""
    from numpy.polynomial import legendre

    a, big_r = _alpha(128) + offset * 2.0 * math.pi / 128, 1.3
    sphere = big_r * np.exp(1j * a)
    assert sharp.volume_of_revolution(sphere) == pytest.approx(4.0 * math.pi * big_r**3 / 3.0, rel=1e-6)
    assert np.abs(sharp.axisymmetric_surface_diffusion_velocity(sphere)).max() < 1e-7
    eps = 1e-5
    for el in (2, 3, 4):
        p = legendre.legval(np.cos(a), [0.0] * el + [1.0])
        v = sharp.axisymmetric_surface_diffusion_velocity(big_r * (1.0 + eps * p) * np.exp(1j * a))
        expected = -eps * big_r * el * (el + 1) * (el * (el + 1) - 2) / big_r**4 * p
        assert np.abs(v - expected).max() < 1e-3 * np.abs(expected).max()


def test_sphere_neck_grows_by_surface_diffusion_with_its_volume_kept():
    run = sharp.grow_neck(points=160, neck=0.3, until=0.32, step_fraction=0.02, mechanism="surf3d")
    x = np.array(run["x_over_r"])
    assert x[-1] >= 0.32 and np.all(np.diff(x[10:]) > 0)
    assert abs(run["area_drift"]) < 1e-4  # the volume of revolution for surf3d


def test_redistribution_keeps_the_curve_and_clusters_points_at_the_neck():
    z = sharp.two_cylinders(192, 0.4)
    x, rho = sharp.neck_of(z)
    assert x == pytest.approx(0.4, abs=1e-9)
    again = sharp.redistribute(sharp.redistribute(z))
    # the filter of the top Fourier modes moves the start's neck a little
    assert sharp.neck_of(again)[0] == pytest.approx(x, abs=5e-5)
    assert sharp.area(again) == pytest.approx(sharp.area(z), rel=1e-7)
    spacing = np.abs(np.diff(np.append(z, z[0])))
    near_neck = np.abs(z.real) < 0.05
    assert spacing[near_neck].max() < 0.5 * spacing.max()
    # the smooth start's neck curvature radius is near Kuczynski's x²/2(1 − x) = 0.133
    assert 0.8 * 0.1333 < rho < 1.2 * 0.1333


def test_neck_grows_with_area_conserved_and_bad_starts_are_refused():
    steps = []
    run = sharp.grow_neck(points=160, neck=0.25, until=0.27, step_fraction=0.02, progress=steps.append)
    x, t = np.array(run["x_over_r"]), np.array(run["t"])
    assert x[-1] >= 0.27 and np.all(np.diff(t) > 0)
    # once the start's shape has settled (ten steps), the neck widens at every step
    assert np.all(np.diff(x[10:]) > 0)
    assert len(steps) == run["steps"] == len(x) - 1
    assert abs(run["area_drift"]) < 1e-4
    # the neck's curvature radius grows as it fills, once the start has settled
    assert run["rho_over_r"][-1] > 1.5 * min(run["rho_over_r"])
    with pytest.raises(DatarialError, match="mechanism 'gb'"):
        sharp.grow_neck(points=64, mechanism="gb")
    with pytest.raises(DatarialError, match="half-width"):
        sharp.two_cylinders(64, 0.95)
    # touching discs (centres ±1) joined by a smooth neck of 0.2: the far ends stay at ±2
    touching = sharp.two_cylinders(192, 0.2, centre=1.0)
    assert sharp.neck_of(touching)[0] == pytest.approx(0.2, abs=1e-6)
    assert touching.real.max() == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(DatarialError, match="centre = 0.95"):
        sharp.two_cylinders(64, 0.2, centre=0.95)
    with pytest.raises(DatarialError, match="remesh_every"):
        sharp.grow_neck(points=64, remesh_every=0)


def test_surface_diffusion_neck_grows_and_blunts_with_area_conserved():
    run = sharp.grow_neck(points=192, neck=0.25, until=0.27, step_fraction=0.02, mechanism="surf")
    x, rho = np.array(run["x_over_r"]), np.array(run["rho_over_r"])
    assert x[-1] >= 0.27 and np.all(np.diff(x[10:]) > 0)
    assert abs(run["area_drift"]) < 1e-4
    # surface diffusion fills the sharp start's neck fast: ρ grows well beyond Kuczynski's x²/2(1 − x)
    assert rho[-1] > 1.5 * x[-1] ** 2 / (2.0 * (1.0 - x[-1]))


def test_grow_neck_keeps_its_curve_where_the_neck_first_reaches_the_snapshot():
    run = sharp.grow_neck(points=128, neck=0.25, until=0.265, step_fraction=0.02, snapshot=0.26)
    snap = run["snapshot"]
    xs = np.array(run["x_over_r"])
    first = int(np.argmax(xs >= 0.26))
    assert snap["x_over_r"] == xs[first] and snap["t"] == run["t"][first]
    assert sharp.neck_of(snap["curve"])[0] == pytest.approx(snap["x_over_r"], abs=1e-9)
    with pytest.raises(DatarialError, match="snapshot = 0.3"):
        sharp.grow_neck(points=64, neck=0.25, until=0.27, snapshot=0.3)


def _circle_arc(points: int, dihedral: float, a: float = 1.3) -> np.ndarray:
    """The equilibrium quarter: a circle of radius a meeting the boundary line x = 0 at half the dihedral angle."""
    half = math.radians(dihedral) / 2.0
    c = a * math.cos(half)
    return c + a * np.exp(1j * np.linspace(math.pi - half, 0.0, points))


@pytest.mark.parametrize("spheres", [False, True])
@pytest.mark.parametrize("dihedral", [120.0, 150.0])
def test_the_equilibrium_circle_is_still_and_a_fillet_relaxes_to_it(dihedral, spheres):
    flow = sharp.BoundaryNeckFlow(dihedral, beta=5.0, spheres=spheres)
    speed, normal, kappa, v = flow.terms(_circle_arc(200, dihedral))
    # (a unit disturbance of the 2nd mode moves at about 2⁴ = 16; Menger curvature is exact on a circle)
    assert abs(v) < 1e-8 and np.abs(speed).max() < 1e-5
    assert kappa == pytest.approx(np.full(200, 1 / 1.3), rel=1e-9)
    # from a neck of 0.3 with a boundary: the neck and the far end reach the circle (sphere) of the same area
    # (volume)
    start = sharp.fillet_quarter(60, 0.3, dihedral)
    amount = sharp.quarter_volume(start) if spheres else sharp.quarter_area(start)
    end = sharp.boundary_equilibrium(amount, dihedral, spheres=spheres)
    run = sharp.grow_boundary_neck(points=60, neck=0.3, until=5.0, dihedral=dihedral, beta=5.0, t_end=3.0,
                                   spheres=spheres)
    assert run["t"][-1] == pytest.approx(3.0)
    assert run["x_over_r"][-1] == pytest.approx(end["neck"], rel=2e-3)
    assert run["curve"][-1].real == pytest.approx(end["centre"] + end["radius"], rel=2e-3)
    assert abs(run["area_drift"]) < 1e-3
    # the boundary drew the grains together (near the end state, v wavers at 1e-6), and the neck widened throughout
    assert run["approach"][-1] > 0.1 and max(run["approach"]) - run["approach"][-1] < 1e-4
    assert np.all(np.diff(run["x_over_r"][5:]) > -1e-6)


def test_without_boundary_flux_the_grains_keep_their_distance():
    run = sharp.grow_boundary_neck(points=60, neck=0.3, until=0.4, dihedral=150.0, beta=0.0)
    assert run["x_over_r"][-1] >= 0.4 and run["approach"][-1] == 0.0
    with pytest.raises(DatarialError, match="dihedral"):
        sharp.grow_boundary_neck(dihedral=0.0)
    with pytest.raises(DatarialError, match="beta"):
        sharp.grow_boundary_neck(beta=-1.0)
    with pytest.raises(DatarialError, match="centre = 0.9"):
        sharp.fillet_quarter(60, 0.2, 150.0, centre=0.9)
    with pytest.raises(DatarialError, match="until"):
        sharp.grow_boundary_neck(neck=0.3, until=0.2)
    with pytest.raises(DatarialError, match="start: give a quarter curve"):
        sharp.grow_boundary_neck(start=sharp.two_cylinders(64, 0.2))


@pytest.mark.slow
@pytest.mark.parametrize("spheres", [False, True])
def test_the_open_curve_model_without_boundary_matches_the_closed_curve_model(spheres):
    """ψ = 180°, β = 0: the one-grain surface-diffusion neck of :func:`grow_neck` (cylinders, or spheres: "surf3d"),
    from the same start."""
    closed = sharp.grow_neck(points=256, neck=0.2, until=0.3, mechanism="surf3d" if spheres else "surf")
    start = sharp.quarter_of(sharp.two_cylinders(256, 0.2), 100)
    open_ = sharp.grow_boundary_neck(points=100, until=0.3, start=start, spheres=spheres)
    assert abs(open_["area_drift"]) < 1e-3
    t_closed = np.interp(0.3, closed["x_over_r"], closed["t"])
    assert np.interp(0.3, open_["x_over_r"], open_["t"]) == pytest.approx(t_closed, rel=0.03)


def test_the_neck_benchmark_runs_the_two_grain_model_and_refuses_its_options_elsewhere(capsys):
    from benchmarks import sinter_neck_sharp as bench

    beta, dihedral = bench.phase_field_boundary("gb")
    assert beta > 100 and 140 < dihedral < 150  # the phase field's boundary case: fast boundary, γ_gb/γ_s ≈ 0.6
    assert bench.main(["--mechanism", "gb", "--points", "40", "--neck", "0.25", "--until", "0.32",
                       "--beta", "0,10", "--compare", ""]) == 0
    out = capsys.readouterr().out
    assert "β = 0, ψ = 145.6°" in out and "β = 10, ψ = 145.6°" in out and "Classical n = 6" in out
    for bad in (["--mechanism", "vol", "--beta", "1"], ["--mechanism", "gb", "--start", "smooth"],
                ["--mechanism", "gb", "--beta", "1,2", "--points", "40,60"], ["--mechanism", "gb", "--beta", "-1"]):
        with pytest.raises(SystemExit):
            bench.main(bad)
