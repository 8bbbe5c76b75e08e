"""Sharp-interface reference: the neck of two cylinders (2D) grown by volume or surface diffusion, and of two
cylinders of two grains grown by surface and grain-boundary diffusion.

This is the limit of the phase-field model's volume-diffusion case for one
grain (no grain boundary) as the interface width goes to zero: a closed curve
Γ bounds the solid, the chemical potential μ is harmonic inside with μ = κ on
Γ (Gibbs–Thomson, κ > 0 where the solid is convex), and Γ moves with the
outward normal velocity V = −∂μ/∂n (one-sided Mullins–Sekerka flow).  The
enclosed area is conserved.  Lengths are in units of the particle radius r and
time in units of r³kT/(D γ Ω) (D the volume diffusivity, γ the surface energy,
Ω the atomic volume); the neck exponent n of xⁿ ∝ t does not depend on them.
The surface-diffusion limit (the phase-field model with surface mobility
alone) moves Γ with V = ∂²κ/∂s² (Mullins), time in r⁴kT/(D_s δ_s γ Ω).

Numerics:

- the curve is N points of a smooth periodic parametrisation, differentiated
  spectrally (its trigonometric interpolant); after every step (or every few:
  ``remesh_every``) the points are redistributed along the curve, half by arc
  length and half by turning angle, so that the neck's small curvature radius
  is resolved;
- ∂μ/∂n is the harmonic conjugate's tangential derivative: μ + iψ is the
  Cauchy integral of a real density σ with (½I + K)σ = μ on Γ (the
  double-layer equation, Nyström with the trapezoidal rule, spectrally
  accurate for smooth curves), ψ on Γ follows from the same integral with the
  singularity subtracted, and ∂μ/∂n = ∂ψ/∂s;
- time steps are linearly implicit Euler in the normal displacement δ,
  (I − Δt J) δ = Δt V with J = ∂V/∂δ by finite differences, which is stable at
  steps far above the explicit limit (the flows are third and fourth order
  in space).

See Kress, *Linear Integral Equations* (3rd ed., 2014), ch. 6 and 12, for the
double-layer potential and its Nyström discretisation.

Two grains (:func:`grow_boundary_neck`, :class:`BoundaryNeckFlow`): a grain
boundary on the symmetry line between the cylinders ends at two triple
junctions, where the surfaces meet at the dihedral angle ψ; matter diffuses
along the boundary into the junctions (the grains approach, at the rate that
zero load allows) and spreads over the surface by surface diffusion.  The
curve is then open (one quarter of the pair, from the junction to the
symmetry axis), which the periodic spectral curve above cannot carry: it is a
polyline with finite volumes for the surface flux (Menger curvature, fluxes
on segments, the junction's angle and inflow as boundary conditions), a cubic
spline for the redistribution of its points, and the same linearly implicit
steps; rotated about the axis, the same curve is the meridian of two spheres
(``spheres=True``).  With ψ = 180° and no boundary flux it is the one-grain
surface-diffusion case, and from the same start it follows :func:`grow_neck`
("surf" and "surf3d", a test).  Its start, Kuczynski's fillet between
cylinders (spheres) of a chosen centre distance, matters: see
``benchmarks.sinter_neck_sharp``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from datarial.errors import DatarialError


def spectral_derivative(z: np.ndarray, order: int = 1) -> np.ndarray:
    """The ``order``-th derivative of periodic samples z(α), α = 2πj/N, of their trigonometric interpolant."""
    n = len(z)
    k = np.fft.fftfreq(n, 1.0 / n)
    if order % 2:
        k[n // 2] = 0.0  # the Nyquist mode has no odd derivative
    return np.fft.ifft(np.fft.fft(z) * (1j * k) ** order)


def curvature(z: np.ndarray) -> np.ndarray:
    """Curvature κ (1/length) of the closed curve z (complex points, counter-clockwise); κ > 0 where convex."""
    return _curvature(spectral_derivative(z), spectral_derivative(z, 2))


def _curvature(z1: np.ndarray | complex, z2: np.ndarray | complex) -> np.ndarray | float:
    """Curvature from a curve's first and second derivatives z1, z2 along any parameter."""
    return np.imag(np.conj(z1) * z2) / np.abs(z1) ** 3


def area(z: np.ndarray) -> float:
    """Area enclosed by the closed curve z (length²), ½∮ x dy − y dx."""
    return float(0.5 * np.mean(np.imag(np.conj(z) * spectral_derivative(z))) * 2.0 * math.pi)


def normal_derivative(z: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Outward normal derivative ∂μ/∂n on the closed curve z of the function harmonic inside with μ on z.

    The interior Dirichlet-to-Neumann map by the real double-layer (Cauchy
    integral) density; exact for the trigonometric interpolant up to the
    trapezoidal rule's error, which falls faster than any power of 1/N for
    smooth curves.
    """
    return _normal_derivative(z, spectral_derivative(z), spectral_derivative(z, 2), mu)


def _normal_derivative(z: np.ndarray, z1: np.ndarray, z2: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """:func:`normal_derivative` with the curve's first and second derivatives z1, z2 given."""
    n = len(z)
    gap = z[None, :] - z[:, None]  # ζ_j − ζ_i in row i
    np.fill_diagonal(gap, 1.0)
    kernel = z1[None, :] / gap
    double_layer = kernel.imag / n
    np.fill_diagonal(double_layer, np.imag(z2 / z1) / (2 * n))  # the kernel's limit on the diagonal
    sigma = np.linalg.solve(0.5 * np.eye(n) + double_layer, mu)
    conj = kernel.real
    np.fill_diagonal(conj, 0.0)
    # ψ_i = −(1/2π)∮(σ − σ_i) Re[ζ'/(ζ − ζ_i)] dα; the integrand's diagonal limit is σ'(α_i)
    psi = -(conj @ sigma - sigma * conj.sum(axis=1) + spectral_derivative(sigma).real) / n
    return spectral_derivative(psi).real / np.abs(z1)


def volume_diffusion_velocity(z: np.ndarray) -> np.ndarray:
    """Outward normal velocity V = −∂μ/∂n (length/time) of the curve z with μ = κ on it."""
    z1, z2 = spectral_derivative(z), spectral_derivative(z, 2)
    return -_normal_derivative(z, z1, z2, _curvature(z1, z2))


def surface_diffusion_velocity(z: np.ndarray) -> np.ndarray:
    """Outward normal velocity V = ∂²κ/∂s² (length/time) of the curve z moving by surface diffusion (Mullins).

    Time is then in units of r⁴kT/(D_s δ_s γ Ω) (D_s δ_s the surface
    diffusivity times the surface layer's thickness).
    """
    z1, z2 = spectral_derivative(z), spectral_derivative(z, 2)
    speed = np.abs(z1)
    slope = spectral_derivative(_curvature(z1, z2)).real / speed
    return spectral_derivative(slope).real / speed


def volume_of_revolution(z: np.ndarray) -> float:
    """Volume (length³) of the solid swept by the closed curve z (symmetric about the real axis, the axis of
    rotation): π∫y² dx over the upper half, −(π/2)∮ y|y| dx over the whole curve."""
    y = z.imag
    return float(-0.5 * math.pi * np.mean(y * np.abs(y) * spectral_derivative(z).real) * 2.0 * math.pi)


def axisymmetric_surface_diffusion_velocity(z: np.ndarray) -> np.ndarray:
    """Outward normal velocity V = Δ_s H of the surface of revolution of z about the real axis (two spheres:
    the closed curve is its meridian section), moving by surface diffusion (Mullins).

    H = κ₁ + κ₂ is the sum of the principal curvatures (the curve's own κ₁ and κ₂ = n_y / y of the
    parallel circle, positive where convex) and Δ_s H = (1/y) ∂_s(y ∂_s H) the surface Laplacian; on the
    axis (|y| below 1e-9 of the curve's size) their limits κ₂ = κ₁ and Δ_s H = 2 ∂²H/∂s².  Time is in units
    of r⁴kT/(D_s δ_s γ Ω), as for :func:`surface_diffusion_velocity`.
    """
    z1, z2 = spectral_derivative(z), spectral_derivative(z, 2)
    speed = np.abs(z1)
    k1 = _curvature(z1, z2)
    y = z.imag
    axis = np.abs(y) < 1e-9 * np.abs(z).max()
    safe_y = np.where(axis, 1.0, y)
    h = k1 + np.where(axis, k1, -(z1.real / speed) / safe_y)  # n_y = −x'/|z'| for a counter-clockwise curve
    h_s = spectral_derivative(h).real / speed
    h_ss = spectral_derivative(h_s).real / speed
    return np.where(axis, 2.0 * h_ss, h_ss + (z1.imag / speed) / safe_y * h_s)


VELOCITY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "vol": volume_diffusion_velocity, "surf": surface_diffusion_velocity,
    "surf3d": axisymmetric_surface_diffusion_velocity}
# what each flow conserves: the enclosed area (cylinders, 2D) or the volume of revolution (spheres, 3D)
CONSERVED: dict[str, Callable[[np.ndarray], float]] = {"vol": area, "surf": area, "surf3d": volume_of_revolution}


def _outward_normal(z: np.ndarray) -> np.ndarray:
    z1 = spectral_derivative(z)
    return -1j * z1 / np.abs(z1)


def _refined(z: np.ndarray, fine: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Fourier coefficients, wavenumbers, the curve's trigonometric interpolant at ``fine`` × N points) of the
    closed curve z."""
    n = len(z)
    coef = np.fft.fft(z) / n
    k = np.fft.fftfreq(n, 1.0 / n)
    padded = np.zeros(fine * n, complex)
    padded[k.astype(int) % (fine * n)] = coef
    return coef, k, np.fft.ifft(padded) * (fine * n)


def redistribute(z: np.ndarray, share: float = 0.5, fine: int = 8) -> np.ndarray:
    """The same curve through N new points: ``share`` of them spaced by arc length, the rest by turning angle.

    The curve is the trigonometric interpolant of z, evaluated at new
    parameters found on a ``fine``-times finer grid; the point density is
    smoothed so that the new parametrisation stays smooth, and the top
    Fourier modes are filtered (exp(−36 (|k|/(N/2))³⁶), as in spectral
    boundary-integral methods), which keeps aliasing from growing over
    hundreds of steps.
    """
    n = len(z)
    coef, k, zf = _refined(z, fine)
    grid = np.linspace(0.0, 2.0 * math.pi, fine * n + 1)
    alpha = _spaced(grid, np.abs(spectral_derivative(zf)), curvature(zf), n, share)
    z = np.exp(1j * np.outer(alpha, k)) @ coef
    # an exponential filter of order 36 damps the top modes, where aliasing would otherwise build up
    return np.fft.ifft(np.fft.fft(z) * np.exp(-36.0 * (np.abs(k) / (n / 2)) ** 36))


def _spaced(grid: np.ndarray, speed: np.ndarray, kappa: np.ndarray, n: int, share: float) -> np.ndarray:
    """n parameter values on a closed curve sampled at ``grid`` (uniform, last = first + period) with
    |dz/dparameter| ``speed`` and curvature ``kappa`` there: ``share`` of them by arc length, the rest by
    turning angle, the density smoothed (Gaussian, n/6 Fourier modes) so that the new parametrisation is smooth."""
    kappa = np.abs(kappa)
    length, turning = speed.mean(), (kappa * speed).mean()
    density = speed * (turning / length * share / (1.0 - share) + kappa)
    kf = np.fft.fftfreq(len(density), 1.0 / len(density))
    density = np.fft.ifft(np.fft.fft(density) * np.exp(-(kf / (n / 6)) ** 2)).real
    density = np.maximum(density, 1e-3 * density.max())
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density + np.roll(density, -1)))])
    return np.interp(np.arange(n) / n, cum / cum[-1], grid)


def two_cylinders(points: int, neck: float, centre: float | None = None) -> np.ndarray:
    """Two unit discs joined by a smooth neck of half-width ``neck`` (radii), as a closed counter-clockwise curve.

    The boundary of a smooth union, −ε ln(e^(−d₁/ε) + e^(−d₂/ε)) = 0 with dᵢ
    the distances to the discs.  By default ε = x/2(1 − x), so that the neck's
    curvature radius starts near Kuczynski's x²/2(1 − x), and the centres at
    ±c, c set so that the neck's half-width is x (c = 1.069 for x = 0.2: the
    discs themselves are 0.14 apart, bridged by the union).  With ``centre``
    the discs' centres are at ±``centre`` (1: touching) and ε follows from x
    (the neck is then much sharper than Kuczynski's).  The curve is traced
    densely along rays from each disc's centre (each half is star-shaped about
    it; the whole is not about the origin), interpolated by a periodic cubic
    spline in arc length and sampled as :func:`redistribute` spaces points.
    """
    if not 0.05 <= neck < 0.9:
        raise DatarialError(f"neck = {neck:g}: the start's half-width must lie in [0.05, 0.9) radii")
    from scipy.interpolate import CubicSpline
    from scipy.optimize import brentq

    if centre is None:
        eps = neck / (2.0 * (1.0 - neck))
        c = math.sqrt((1.0 + eps * math.log(2.0)) ** 2 - neck**2)
    else:
        if not 0.0 < centre <= 2.0 or centre**2 + neck**2 <= 1.0:
            raise DatarialError(f"centre = {centre:g}: the neck (0, {neck:g}) must lie outside the discs "
                                f"(centre > {math.sqrt(1.0 - neck * neck):.4f}) and the centre at most 2 radii out")
        c = centre
        eps = (math.sqrt(c * c + neck * neck) - 1.0) / math.log(2.0)

    def level(p: complex) -> float:
        d1, d2 = abs(p - c) - 1.0, abs(p + c) - 1.0
        m = min(d1, d2)
        return m - eps * math.log(math.exp(-(d1 - m) / eps) + math.exp(-(d2 - m) / eps))

    reach = math.pi - math.atan2(neck, c)  # the ray from (c, 0) through the neck's top (0, x)
    rays = [complex(math.cos(a), math.sin(a)) for a in np.linspace(-reach, reach, 16 * points)[1:-1]]
    # each ray ends on the symmetry line x = 0 (outside the neck there) or, pointing away from it, past the disc
    ends = [c / -u.real if u.real < 0 else c + 2.0 for u in rays]
    right = np.array([complex(0.0, -neck)] + [c + brentq(lambda s, u=u: level(c + s * u), 1e-9, e) * u
                                              for u, e in zip(rays, ends, strict=True)] + [complex(0.0, neck)])
    dense = np.concatenate([right, -right[1:-1]])  # the left half by point reflection, still counter-clockwise
    chord = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(np.append(dense, dense[0]))))])
    spline = CubicSpline(chord, np.append(dense, dense[0]), bc_type="periodic")
    grid = np.linspace(0.0, chord[-1], 8 * points + 1)
    z1, z2 = spline(grid[:-1], 1), spline(grid[:-1], 2)
    # place the points by curvature at once: a first spacing by arc length would not resolve the neck
    return spline(_spaced(grid, np.abs(z1), _curvature(z1, z2), points, 0.5))


def neck_of(z: np.ndarray) -> tuple[float, float]:
    """(half-width x, curvature radius ρ) of the neck where the curve crosses x = 0 above the axis (radii)."""
    from scipy.optimize import brentq

    n = len(z)
    coef = np.fft.fft(z) / n
    k = np.fft.fftfreq(n, 1.0 / n)

    def at(a: float, order: int = 0) -> complex:
        return complex(np.sum(coef * (1j * k) ** order * np.exp(1j * k * a)))

    alpha = 2.0 * math.pi * np.arange(n + 1) / n
    zz = np.append(z, z[0])
    for i in range(n):
        if zz[i].imag > 0 and zz[i].real > 0 >= zz[i + 1].real:
            lo, hi = alpha[i], alpha[i + 1]
            f_lo, f_hi = at(lo).real, at(hi).real
            # a point on the symmetry line itself can evaluate to ±1e-17 on either side
            a = brentq(lambda s: at(s).real, lo, hi) if f_lo * f_hi < 0 else (lo if abs(f_lo) <= abs(f_hi) else hi)
            return at(a).imag, 1.0 / abs(_curvature(at(a, 1), at(a, 2)))
    raise DatarialError("the curve has no neck crossing x = 0 above the axis")


def grow_neck(points: int = 256, neck: float = 0.2, until: float = 0.6, step_fraction: float = 0.002,
              progress: Callable[[float], None] | None = None, remesh_every: int = 1,
              mechanism: str = "vol", snapshot: float | None = None, centre: float | None = None) -> dict:
    """The neck of two unit cylinders from half-width ``neck`` to ``until`` (radii) by volume diffusion
    (``mechanism`` "vol") or surface diffusion ("surf"), or of two unit spheres by surface diffusion
    ("surf3d": the curve is their meridian section, rotated about the real axis).

    Each step is ``step_fraction`` of the neck's time scale x/(dx/dt) (the
    first-order time error is then the same fraction of every rate, which
    shifts log t by a constant and leaves n alone).  Returns the record the
    neck benchmark uses: times t (units of r³kT/DγΩ, or r⁴kT/D_sδ_sγΩ), x/r, the neck curvature
    radius ρ/r (of the curve), the relative drift of the area (of the volume for "surf3d") and the step count.  ``progress`` is
    called with x/r after every step.  ``remesh_every``: redistribute the
    points after every this many steps (between, they move along the normal
    only); each redistribution adds a little interpolation error, which over
    some thousand steps can make the curve run away.  ``snapshot``: also keep
    the curve (complex points, radii, centres at ±c on the real axis) the first
    time x/r reaches this, as ``record["snapshot"]`` = {"t", "x_over_r",
    "curve"}, so that another model can start from this model's own neck.
    ``centre``: the start's disc centres (:func:`two_cylinders`; default: Kuczynski's curvature radius).
    """
    if remesh_every < 1:
        raise DatarialError(f"remesh_every = {remesh_every}: redistribute after every 1 or more steps")
    if mechanism not in VELOCITY:
        raise DatarialError(f"mechanism {mechanism!r}: use one of {', '.join(VELOCITY)}")
    velocity, conserved = VELOCITY[mechanism], CONSERVED[mechanism]
    z = two_cylinders(points, neck, centre)
    amount0 = conserved(z)  # the area, or the volume of revolution
    x, rho = neck_of(z)
    t, dt = 0.0, 1e-9
    ts, xs, rhos = [t], [x], [rho]
    steps = shrinking = 0
    kept = None
    if snapshot is not None and not neck < snapshot < until:
        raise DatarialError(f"snapshot = {snapshot:g}: the neck to keep must lie between the start {neck:g} and {until:g}")
    while x < until:
        v = velocity(z)
        normal = _outward_normal(z)
        jac = np.empty((points, points))
        h = 1e-7
        for j in range(points):
            moved = z.copy()
            moved[j] += h * normal[j]
            jac[:, j] = (velocity(moved) - v) / h
        delta = np.linalg.solve(np.eye(points) - dt * jac, dt * v)
        # no point may move by more than half the closest spacing in one step: while a sharp start's neck
        # blunts (surface diffusion), the shape changes far faster than the neck's width
        spacing = np.abs(np.diff(np.append(z, z[0]))).min()
        while np.abs(delta).max() > 0.5 * spacing:
            dt *= 0.25
            delta = np.linalg.solve(np.eye(points) - dt * jac, dt * v)
        z = z + delta * normal
        t += dt
        steps += 1
        if steps % remesh_every == 0:
            z = redistribute(z)
        x_new, rho = neck_of(z)
        drift = conserved(z) / amount0 - 1.0
        if abs(drift) > 1e-2 or abs(x_new - x) > 0.1 * x:
            raise DatarialError(f"step {steps}: the curve ran away ({'volume' if mechanism == 'surf3d' else 'area'} drift {drift:.1e}, neck {x:.4f} → "
                                f"{x_new:.4f}); use more points or a smaller step_fraction")
        rate = (x_new - x) / dt
        # right after the start the neck may narrow for a few steps while its shape settles
        shrinking = shrinking + 1 if rate <= 0 else 0
        if shrinking > 100:
            raise DatarialError(f"the neck stopped growing at x/r = {x_new:.4f} (step {steps})")
        x = x_new
        ts.append(t)
        xs.append(x)
        rhos.append(rho)
        if snapshot is not None and kept is None and x >= snapshot:
            kept = {"t": t, "x_over_r": x, "curve": z.copy()}
        if rate > 0:
            dt = min(step_fraction * x / rate, 2.0 * dt)
        if progress is not None:
            progress(x)
    record = {"t": ts, "x_over_r": xs, "rho_over_r": rhos, "area_drift": conserved(z) / amount0 - 1.0, "steps": steps}
    if kept is not None:
        record["snapshot"] = kept
    return record


# ----------------------------------------------------------------------------- two grains: a grain boundary at the neck
# The curve is the upper half of the right cylinder's surface, an open polyline from the junction J = (0, x) on the
# grain boundary (the line x = 0) clockwise over the top to F on the symmetry axis (y = 0): complex points, J first.


def _junction_tangent(dihedral: float) -> complex:
    """Unit tangent of the surface at the junction, pointing away from it: half the dihedral angle ψ (°) from the
    boundary line (+y), so that the two grains' surfaces meet at ψ."""
    half = math.radians(dihedral) / 2.0
    return complex(math.sin(half), math.cos(half))


def quarter_area(p: np.ndarray) -> float:
    """Area (radii²) between the open curve p (J … F, clockwise), the boundary line x = 0 and the axis y = 0."""
    ring = np.concatenate([[0j], p, [0j]])
    return float(-0.5 * np.sum(ring[:-1].real * ring[1:].imag - ring[1:].real * ring[:-1].imag))


def quarter_volume(p: np.ndarray) -> float:
    """Volume (radii³) of the solid of revolution about the axis y = 0 bounded by the open curve p (J … F,
    clockwise) and the boundary plane x = 0: π∫y² dx, exact on each straight segment."""
    x, y = p.real, p.imag
    return float(math.pi * np.sum(np.diff(x) * (y[:-1] ** 2 + y[:-1] * y[1:] + y[1:] ** 2) / 3.0))


def respace_open(p: np.ndarray, t_start: complex, t_end: complex, points: int, share: float = 0.5,
                 fine: int = 16) -> np.ndarray:
    """The open curve p through ``points`` new points, ``share`` of them spaced by arc length and the rest by
    turning angle (as :func:`redistribute` does for closed curves); its ends stay where they are.

    The curve is a cubic spline in chord length with the end tangents ``t_start`` and ``t_end`` (unit, complex),
    the density of points is smoothed over about three new spacings.
    """
    from scipy.interpolate import CubicSpline

    s = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(p)))])
    spline = CubicSpline(s, p, bc_type=((1, t_start), (1, t_end)))
    grid = np.linspace(0.0, s[-1], fine * points)
    z1, z2 = spline(grid, 1), spline(grid, 2)
    kappa = np.abs(_curvature(z1, z2))
    density = share / (1.0 - share) * np.trapezoid(kappa, grid) / s[-1] + kappa
    width = max(1, len(grid) // max(1, points // 3))
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    density = np.convolve(np.pad(density, 3 * width, mode="edge"), kernel / kernel.sum(), mode="valid")
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    out = spline(np.interp(np.linspace(0.0, cum[-1], points), cum, grid))
    out[0], out[-1] = complex(0.0, p[0].imag), complex(p[-1].real, 0.0)  # the ends stay on their lines exactly
    return out


def fillet_quarter(points: int, neck: float, dihedral: float = 180.0, centre: float = 1.0) -> np.ndarray:
    """The start of :func:`grow_boundary_neck`: a unit cylinder centred at (``centre``, 0) joined to the boundary
    line by a circular fillet that meets it at J = (0, ``neck``) with half the dihedral angle and touches the
    cylinder (for 180° and centre 1, Kuczynski's neck between touching cylinders).

    The fillet's radius follows from the tangency: ρ = (1 − c² − x²)/(2(c cos ψ/2 + x sin ψ/2 − 1)), which is
    positive only when J lies outside the cylinder (c² + x² > 1).
    """
    if not 0.05 <= neck < 0.9:
        raise DatarialError(f"neck = {neck:g}: the start's half-width must lie in [0.05, 0.9) radii")
    if not 0.0 < dihedral <= 180.0:
        raise DatarialError(f"dihedral = {dihedral:g}°: give an angle in (0, 180]")
    half = math.radians(dihedral) / 2.0
    cp, sp = math.cos(half), math.sin(half)
    if centre * centre + neck * neck <= 1.0 or centre > 2.0:
        raise DatarialError(f"centre = {centre:g}: the junction (0, {neck:g}) must lie outside the cylinder "
                            f"(centre > {math.sqrt(1.0 - neck * neck):.4f}) and the centre at most 2 radii out")
    rho = (1.0 - centre**2 - neck**2) / (2.0 * (centre * cp + neck * sp - 1.0))
    hub = complex(-rho * cp, neck + rho * sp)  # the fillet circle's centre, in the pore
    touch = centre + (hub - centre) / (1.0 + rho)
    a_j, a_t = np.angle(complex(0.0, neck) - hub), np.angle(touch - hub)
    arc = hub + rho * np.exp(1j * (a_j + np.angle(np.exp(1j * (a_t - a_j))) * np.linspace(0.0, 1.0, 8 * points)))
    body = centre + np.exp(1j * np.linspace(np.angle(touch - centre), 0.0, 32 * points))
    return respace_open(np.concatenate([arc, body[1:]]), _junction_tangent(dihedral), -1j, points)


def quarter_of(z: np.ndarray, points: int, fine: int = 64) -> np.ndarray:
    """The upper right quarter (J … F) of a closed curve symmetric about both axes (e.g. :func:`two_cylinders`),
    through ``points`` points, for :func:`grow_boundary_neck` with ψ = 180°."""
    dense = _refined(z, fine)[2]
    q = dense[(dense.real > 0) & (dense.imag > 0)]
    q = q[np.argsort(-np.angle(q))]
    x, far = neck_of(z)[0], float(np.abs(dense.real).max())
    q = np.concatenate([[complex(0.0, x)], q, [complex(far, 0.0)]])
    return respace_open(q[np.concatenate([[True], np.abs(np.diff(q)) > 1e-12])], 1.0 + 0j, -1j, points)


def boundary_equilibrium(amount: float, dihedral: float, spheres: bool = False) -> dict[str, float]:
    """The end state of :func:`grow_boundary_neck` for a quarter of area ``amount`` (radii²), or with ``spheres``
    a grain of volume ``amount`` (radii³): a circle (sphere) of radius a meeting the boundary at half the dihedral
    angle ψ, its centre at a cos(ψ/2), the neck x = a sin(ψ/2), with 2·area = a²(π − ψ/2 + sin(ψ/2) cos(ψ/2)), or
    volume = π a³ (4/3 − (1 − cos(ψ/2))² (2 + cos(ψ/2))/3) (the sphere less the cap beyond the boundary)."""
    half = math.radians(dihedral) / 2.0
    c = math.cos(half)
    if spheres:
        a = (amount / (math.pi * (4.0 / 3.0 - (1.0 - c) ** 2 * (2.0 + c) / 3.0))) ** (1.0 / 3.0)
    else:
        a = math.sqrt(2.0 * amount / (math.pi - half + math.sin(half) * c))
    return {"radius": a, "neck": a * math.sin(half), "centre": a * c}


class BoundaryNeckFlow:
    """Surface diffusion on the free surface and diffusion along the grain boundary, with the grains' approach.

    Units: lengths in the initial radius r, time in r⁴kT/(D_s δ_s γ_s Ω); ``beta`` = D_gb δ_gb/(D_s δ_s).  In
    these units, with μ the chemical potential over γ_s Ω:

    * free surface: μ = κ, flux q = −∂κ/∂s along it, normal velocity −∂q/∂s (Mullins), finite volumes on the
      polyline (κ from the circle through each point and its neighbours, q on each segment);
    * grain boundary, a line sink: the grains approach each other, each at v, so the boundary takes in 2v per
      unit length and carries q = 2vy at height y; with q = −β ∂μ/∂y, μ(y) = κ_J + (v/β)(x² − y²) (μ
      continuous at the junction);
    * no load: ∫₋ₓˣ μ dy = 2 sin(ψ/2) (the boundary's normal stress −γ_s μ against the surface tension pulling at
      the two junctions), so v = 3β (sin(ψ/2) − κ_J x)/(2x³) — zero for the equilibrium circle, κ_J = 1/a;
    * junction: the surface leaves at half the dihedral angle ψ (its tangent, a boundary condition in κ at J)
      and takes in v x, half of what the boundary delivers; the point moves along the boundary line;
    * the whole surface moves with the grain, −v along x, besides its own normal motion.

    With ``spheres`` the curve is the meridian of two spheres (rotated about y = 0) and the boundary a disc:
    μ = H = κ₁ + κ₂ (κ₂ = n_y/y of the parallel circle; κ₁ on the axis), V = Δ_s H on the surface of revolution
    (finite volumes of rings, a cap on the axis), the disc carries q = v r per unit circumference at radius r,
    μ(r) = H_J + (v/2β)(x² − r²), zero load ∫μ dA = 2πx sin(ψ/2) gives v = 8β(x sin(ψ/2) − H_J x²/2)/x⁴,
    and each surface takes in v x/2 per unit length of the junction line.
    """

    def __init__(self, dihedral: float, beta: float, spheres: bool = False) -> None:
        if not 0.0 < dihedral <= 180.0:
            raise DatarialError(f"dihedral = {dihedral:g}°: give an angle in (0, 180]")
        if not (math.isfinite(beta) and beta >= 0.0):
            raise DatarialError(f"beta = {beta:g}: the ratio D_gb δ_gb / (D_s δ_s) must be a number ≥ 0")
        self.dihedral, self.beta, self.spheres = dihedral, beta, spheres
        self.t_j, self.t_f = _junction_tangent(dihedral), -1j
        self.sin_half = math.sin(math.radians(dihedral) / 2.0)

    def terms(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(outward normal speed W, outward unit normals n, curvature κ of the curve at the points, approach speed v)
        of curves p (..., N); W includes the grain's motion."""
        e = np.diff(p, axis=-1)
        length = np.abs(e)
        u = e / length
        lead = p.shape[:-1] + (1,)
        t_j, t_f = np.full(lead, self.t_j), np.full(lead, self.t_f)
        turn = np.angle(np.concatenate([u, t_f], axis=-1) / np.concatenate([t_j, u], axis=-1))
        dual = np.concatenate([length[..., :1], length[..., :-1] + length[..., 1:], length[..., -1:]], axis=-1) / 2.0
        # Menger curvature, exact for points on a circle: the circle through each point and its neighbours (at the
        # ends, through the end and its neighbour, tangent to the end's direction); clockwise, a convex turn is to
        # the right.  (Turning angle over dual length is 1/24 (h/a)² too large on a circle, which on the axis of
        # revolution, where the cells shrink as h², would move a sphere at rest at 1/(6a³).)
        span = np.concatenate([length[..., :1], np.abs(p[..., 2:] - p[..., :-2]), length[..., -1:]], axis=-1)
        kappa = -2.0 * np.sin(turn) / span
        x = p[..., 0].imag
        mid = u[..., :-1] + u[..., 1:]
        normal = 1j * np.concatenate([t_j, mid / np.abs(mid), t_f], axis=-1)
        mu = kappa
        if self.spheres:
            y = p.imag
            ring = np.concatenate([y[..., :-1], np.ones(lead)], axis=-1)  # the far point lies on the axis
            mu = kappa + np.concatenate([normal[..., :-1].imag / y[..., :-1], kappa[..., -1:]], axis=-1)
            v = 8.0 * self.beta * (x * self.sin_half - 0.5 * mu[..., 0] * x * x) / x**4
            inflow, weight = 0.5 * v * x * x, 0.5 * (y[..., :-1] + y[..., 1:])
            # control areas over 2π: rings of the dual length, a cap of radius l/2 on the axis
            cell = np.concatenate([dual[..., :-1] * ring[..., :-1], length[..., -1:] ** 2 / 8.0], axis=-1)
        else:
            v = 1.5 * self.beta * (self.sin_half - kappa[..., 0] * x) / x**3
            inflow, weight, cell = v * x, 1.0, dual
        flux = np.concatenate([inflow[..., None], -weight * np.diff(mu, axis=-1) / length, np.zeros(lead)], axis=-1)
        speed = (flux[..., :-1] - flux[..., 1:]) / cell - v[..., None] * normal.real
        return speed, normal, kappa, v

    def directions(self, normal: np.ndarray) -> np.ndarray:
        """How each point moves for a unit normal displacement: along the normal, the junction along the boundary
        line and the far point along the axis."""
        m = normal.copy()
        m[0] = 1j / normal[0].imag
        m[-1] = 1.0 / normal[-1].real
        return m


def grow_boundary_neck(points: int = 150, neck: float = 0.2, until: float = 0.6, dihedral: float = 180.0,
                       beta: float = 0.0, centre: float = 1.0, step_fraction: float = 0.002,
                       t_end: float = math.inf, start: np.ndarray | None = None,
                       progress: Callable[[float], None] | None = None, spheres: bool = False) -> dict:
    """The neck of two unit cylinders of different grains, with a grain boundary between them, from half-width
    ``neck`` to ``until`` (radii) or to time ``t_end``, by surface diffusion and diffusion along the boundary
    (:class:`BoundaryNeckFlow`; ``beta`` = 0: surface diffusion alone, and with ``dihedral`` 180° the one-grain
    case of :func:`grow_neck`).

    Starts from :func:`fillet_quarter` (``centre``: the cylinders' half-distance) or from the quarter curve
    ``start`` (whose own neck then replaces ``neck``); ``spheres``: two spheres, the curve their meridian.  Each
    step is linearly implicit Euler in the points' normal displacements (the Jacobian by finite differences, as
    :func:`grow_neck`), ``step_fraction`` of the neck's time scale x/(dx/dt), followed by :func:`respace_open`.
    Returns times t (units r⁴kT/(D_s δ_s γ_s Ω)), x/r, the curvature radius ρ/r of the curve's most concave
    point, the approach h/r of each centre, the relative drift of the area (of the volume for spheres), the
    step count and the last curve (``record["curve"]``, complex points, J first).  ``progress`` is called with
    x/r after every step.
    """
    flow = BoundaryNeckFlow(dihedral, beta, spheres)
    conserved = quarter_volume if spheres else quarter_area
    if points < 16:
        raise DatarialError(f"points = {points}: use at least 16 points on the curve")
    if not (step_fraction > 0.0 and math.isfinite(until) and until > neck):
        raise DatarialError(f"step_fraction = {step_fraction:g}, until = {until:g}: give a positive step and an "
                            f"end neck above the start {neck:g}")
    p = fillet_quarter(points, neck, dihedral, centre) if start is None else np.asarray(start, complex)
    if start is not None and (p.ndim != 1 or len(p) < 16 or abs(p[0].real) > 1e-9 or abs(p[-1].imag) > 1e-9
                              or p[0].imag <= 0.0):
        raise DatarialError("start: give a quarter curve of at least 16 complex points from the junction (0, x) "
                            "on the boundary line to the axis (see quarter_of and fillet_quarter)")
    points = len(p)
    amount0 = conserved(p)
    x = p[0].imag
    t, dt, h = 0.0, 1e-9, 0.0
    ts, xs, hs = [t], [x], [h]
    speed, normal, kappa, v = flow.terms(p)
    rhos = [1.0 / -kappa.min() if kappa.min() < 0 else math.nan]
    steps = shrinking = 0
    eye = np.eye(points)
    while x < until and t < t_end:
        move = flow.directions(normal)
        eps = 1e-7
        jac = ((flow.terms(p[None, :] + eps * np.diag(move))[0] - speed) / eps).T
        dt = min(dt, t_end - t)
        delta = np.linalg.solve(eye - dt * jac, dt * speed)
        spacing = np.abs(np.diff(p)).min()
        while np.abs(delta).max() > 0.5 * spacing:  # no point may pass its neighbour in one step
            dt *= 0.25
            delta = np.linalg.solve(eye - dt * jac, dt * speed)
        p = p + delta * move
        t += dt
        h += float(v) * dt
        steps += 1
        p = respace_open(p, flow.t_j, flow.t_f, points)
        x_new = p[0].imag
        drift = conserved(p) / amount0 - 1.0
        if not np.all(np.isfinite(p)) or abs(drift) > 1e-2 or abs(x_new - x) > 0.1 * x:
            raise DatarialError(f"step {steps}: the curve ran away ({'volume' if spheres else 'area'} drift "
                                f"{drift:.1e}, neck {x:.4f} → "
                                f"{x_new:.4f}); use more points or a smaller step_fraction")
        rate = (x_new - x) / dt
        shrinking = shrinking + 1 if rate <= 0 else 0
        if shrinking > 100 and math.isinf(t_end):
            raise DatarialError(f"the neck stopped growing at x/r = {x_new:.4f} (step {steps})")
        x = x_new
        speed, normal, kappa, v = flow.terms(p)
        ts.append(t)
        xs.append(x)
        hs.append(h)
        rhos.append(1.0 / -kappa.min() if kappa.min() < 0 else math.nan)
        dt = min(step_fraction * x / rate, 2.0 * dt) if rate > 0 else 2.0 * dt
        if progress is not None:
            progress(x)
    return {"t": ts, "x_over_r": xs, "rho_over_r": rhos, "approach": hs, "steps": steps,
            "area_drift": conserved(p) / amount0 - 1.0, "curve": p}
