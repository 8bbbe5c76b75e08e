"""Wang-type phase-field model of solid-state sintering: free energy, mobility, units.

Fields: the conserved density ρ (1 in particles, 0 in pores) and one
non-conserved order parameter η per grain (see :mod:`datarial.sinter.solver`
for how fields are shared by distant grains).  Free-energy density

    f = A ρ²(1−ρ)² + B [ρ² + 6(1−ρ) Σηᵢ² − 4(2−ρ) Σηᵢ³ + 3 (Σηᵢ²)²]
        + κ_ρ/2 |∇ρ|² + κ_η/2 Σ|∇ηᵢ|²

(Wang 2006, Acta Mater. 54, 953).  Evolution:

    ∂ρ/∂t = ∇·(M ∇ μ) − ∇·(ρ v),      μ = ∂f/∂ρ − κ_ρ ∇²ρ
    ∂ηᵢ/∂t = −L (∂f/∂ηᵢ − κ_η ∇²ηᵢ) − ∇·(ηᵢ vᵢ)

with M = M_vol h(ρ) + M_vap (1−h(ρ)) + M_surf ρ²(1−ρ)² + M_gb Σ_{i≠j} ηᵢηⱼ,
h(ρ) = ρ³(10 − 15ρ + 6ρ²), and vᵢ the rigid-body velocity of grain i.
With ``tensorial = 1`` the surface and grain-boundary paths carry flux only
along their interfaces: M_surf ρ²(1−ρ)² (I − n⊗n), n = ∇ρ/|∇ρ|, and
M_gb ηᵢηⱼ (I − nᵢⱼ⊗nᵢⱼ), nᵢⱼ = (∇ηᵢ − ∇ηⱼ)/|∇ηᵢ − ∇ηⱼ| (the tensorial
mobility of later sintering models; values between 0 and 1 interpolate).

**Units.**  The solver works in reduced units: length l₀ = the grid spacing,
energy density E₀, time t₀.  :class:`Material` maps physical inputs onto them:

* interface energies and width: the reduced surface and grain-boundary
  energies γ*_s, γ*_gb and the surface width of the model are computed from
  1D equilibrium profiles (:func:`interface_properties`), and E₀ = γ_s /
  (γ*_s l₀), so that the model's surface energy equals the material's;
  κ_ρ, κ_η are chosen so that γ_gb/γ_s and the width (in grid cells) match;
* each mobility from an Arrhenius diffusivity D = D₀ exp(−Q/RT) at the
  process temperature.  Volume (and vapour) transport: M = D V_m / (R T)
  (m⁵/(J s)), the bulk value of M_vol h(ρ) (h has no excess across a flat
  surface, so the interface adds no volume transport).  Surface and
  boundary transport are carried by diffusion layers of thickness δ_s, δ_gb
  (``Material.delta_s``, ``delta_gb``; 0.5 nm, about two atomic spacings, by
  default): the flux along a surface is δ_s D_s V_m/(RT) ∇_s μ (m⁶/(J s)
  times ∇_s μ).  The model carries it in its diffuse layer,
  M_surf ∫ρ²(1−ρ)² dn, so M_surf = δ_s D_s V_m / (R T · I_s · l₀) with
  I_s = ∫ρ²(1−ρ)² dn (cells, from the relaxed 1D profile; 0.091 with the
  default parameters), and likewise M_gb with I_gb = ∫Σ_{i≠j}ηᵢηⱼ dn across
  a boundary.  So the integrated transport δD, not the grid spacing, sets
  the kinetics: a surface-diffusion run's physical time follows Herring's
  law t ∝ l₀⁴ at fixed size in cells.  The mobilities are reduced by
  M_ref = the largest of them: t₀ = l₀² / (M_ref E₀) and M* = M / M_ref
  (so the fastest path has M* = 1).  Codes differ here (some scale by the
  surface mobility, some by the volume one, some put D_s itself in M_surf,
  which makes the surface transport depend on l₀); stating t₀ and δ makes
  runs comparable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from datarial.errors import DatarialError

R_GAS = 8.314462618  # J/(mol K)


@dataclass(frozen=True)
class Arrhenius:
    """Diffusivity D = D0 exp(−Q / (R T)); D0 in m²/s, Q in J/mol."""

    D0: float
    Q: float = 0.0

    def at(self, temperature: float) -> float:
        """D in m²/s at ``temperature`` in K."""
        return self.D0 * math.exp(-self.Q / (R_GAS * temperature))


@dataclass(frozen=True)
class Parameters:
    """Reduced model parameters (lengths in grid cells, see the module docstring).

    Rigid-body motion (Wang 2006): in necks where ηᵢηⱼ ≥ ``c_neck`` the force
    density k_st (ρ − ρ0)(∇ηᵢ − ∇ηⱼ) acts on grain i; its velocity is
    vᵢ = m_tr Fᵢ / Vᵢ, carried with weight min(1, ηᵢ/``c_body``) (continuous,
    so the edge of the moving body is no source of η).
    ``m_tr = 0`` switches rigid-body motion off.  With this free energy a flat
    boundary has ρ = 1 exactly (ηᵢ + ηⱼ = 1 across it makes ∂f/∂ρ vanish at
    ρ = 1), so with Wang's ρ0 < 1 a boundary's interior pushes its grains
    apart, in proportion to its length, and two grains' neck stops growing
    where that balances the pull at the neck's edge (``benchmarks/sinter_neck``,
    grain-boundary case); ρ0 = 1 removes the push.

    ``tensorial`` (0–1) removes that share of the cross-interface flux from the
    surface and boundary paths (see the module docstring).  With rigid-body
    motion pair it with ``c_body = 1``: the weight min(1, ηᵢ/0.1) moves each
    grain rigidly up to where the other's η is 0.1, so the advected density
    converges on the boundary's flanks, which a tensorial boundary mobility
    does not drain into the core, and the approach stops.
    """

    A: float = 16.0
    B: float = 1.0
    kappa_rho: float = 10.0
    kappa_eta: float = 5.0
    M_vol: float = 0.01
    M_vap: float = 0.001
    M_surf: float = 4.0
    M_gb: float = 0.4
    L: float = 10.0
    k_st: float = 0.0
    rho0: float = 0.9816
    c_neck: float = 0.14
    c_body: float = 0.1
    m_tr: float = 0.0
    tensorial: float = 0.0  # 0: scalar surface and boundary mobilities (Wang); 1: along the interfaces only

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not math.isfinite(value):
                raise DatarialError(f"model parameter {name} = {value} is not a finite number")
            if value < 0 and name not in ("rho0",):
                raise DatarialError(f"model parameter {name} = {value} must not be negative")
        if self.A <= 0 or self.B <= 0 or self.kappa_rho <= 0 or self.kappa_eta <= 0 or self.L <= 0:
            raise DatarialError("A, B, kappa_rho, kappa_eta and L must be positive")
        if self.tensorial > 1:
            raise DatarialError(f"model parameter tensorial = {self.tensorial}: give 0 (scalar mobility), "
                                "1 (surface and boundary diffusion along the interfaces only) or a value between")

    def replace(self, **changes) -> Parameters:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise DatarialError(f"unknown model parameter(s): {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(asdict(self))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# ----------------------------------------------------------------------------- local terms (torch or numpy)
def df_drho(rho, s2, s3, p: Parameters):
    """∂f/∂ρ of the bulk free energy (reduced units); ``s2`` = Σηᵢ², ``s3`` = Σηᵢ³."""
    return 2.0 * p.A * rho * (1.0 - rho) * (1.0 - 2.0 * rho) + p.B * (2.0 * rho - 6.0 * s2 + 4.0 * s3)


def df_deta(rho, eta, s2, p: Parameters):
    """∂f/∂ηᵢ for every field at once (``eta`` has the fields on axis 0)."""
    return 12.0 * p.B * ((1.0 - rho) * eta - (2.0 - rho) * eta * eta + eta * s2)


def d2f_deta2(rho, eta, s2, p: Parameters):
    """∂²f/∂ηᵢ² (diagonal), the stiffness of the local Allen–Cahn reaction."""
    return 12.0 * p.B * ((1.0 - rho) - 2.0 * (2.0 - rho) * eta + s2 + 2.0 * eta * eta)


def bulk_energy(rho, s2, s3, p: Parameters):
    """Bulk free-energy density f(ρ, η) without gradient terms."""
    return p.A * rho**2 * (1.0 - rho) ** 2 + p.B * (rho**2 + 6.0 * (1.0 - rho) * s2 - 4.0 * (2.0 - rho) * s3 + 3.0 * s2**2)


def mobility(rho, gb, p: Parameters):
    """M(ρ, η): volume, vapour, surface and grain-boundary paths; ``gb`` = Σ_{i≠j} ηᵢηⱼ."""
    r = rho.clamp(0.0, 1.0) if hasattr(rho, "clamp") else np.clip(rho, 0.0, 1.0)
    h = r**3 * (10.0 - 15.0 * r + 6.0 * r * r)
    return p.M_vol * h + p.M_vap * (1.0 - h) + p.M_surf * (r * (1.0 - r)) ** 2 + p.M_gb * gb


def normal_flux(g, rho, eta, grad_rho, grad_eta, p: Parameters):
    """The part of the surface and grain-boundary fluxes across their interfaces, weighted by ``p.tensorial``.

    ``g``: the components of ∇μ; ``grad_rho`` those of ∇ρ, ``grad_eta`` those
    of ∇η (fields on axis 0), all at the same points.  Returns the components
    of t·[M_surf ρ²(1−ρ)² n (n·g) + M_gb Σ_{i≠j} ηᵢηⱼ nᵢⱼ (nᵢⱼ·g)], t = ``p.tensorial``,
    which, subtracted from M ∇μ, leaves the tensorial flux (torch tensors).
    """

    def along(w, comps):
        norm2 = sum(c * c for c in comps) + 1e-12
        dot = sum(c * gc for c, gc in zip(comps, g, strict=True))
        return [w * c * dot / norm2 for c in comps]

    r = rho.clamp(0.0, 1.0)
    out = along(p.tensorial * p.M_surf * (r * (1.0 - r)) ** 2, grad_rho)
    n_fields = eta.shape[0]
    for i in range(n_fields):  # field pairs (the fields of distant grains never meet)
        for j in range(i + 1, n_fields):
            part = along(2.0 * p.tensorial * p.M_gb * eta[i] * eta[j], [ge[i] - ge[j] for ge in grad_eta])
            out = [o + q for o, q in zip(out, part, strict=True)]
    return out


# ----------------------------------------------------------------------------- interface energies from 1D profiles
@dataclass(frozen=True)
class InterfaceProperties:
    """Reduced surface and grain-boundary energies (E₀ l₀), 10–90 % widths and diffusion-layer integrals (cells).

    ``layer_s`` = ∫ρ²(1−ρ)² dn across a surface and ``layer_gb`` = ∫Σ_{i≠j}ηᵢηⱼ dn
    across a boundary: the surface and boundary mobilities times these are
    the model's integrated transport along the interface (δD V_m/RT).
    """

    gamma_s: float
    gamma_gb: float
    width_s: float
    width_gb: float
    layer_s: float
    layer_gb: float

    @property
    def ratio(self) -> float:
        return self.gamma_gb / self.gamma_s


def _relax_1d(p: Parameters, kind: str, n: int = 400, dx: float = 0.25,
              w: float = 1.0) -> tuple[float, float, float]:
    """Excess energy, 10–90 % width and diffusion-layer integral of a flat interface, by minimising the 1D free energy.

    ``kind`` "surface": (ρ, η) from grain (1, 1) to pore (0, 0); "gb": ρ = 1,
    (η₁, η₂) from (1, 0) to (0, 1), with the pair factor ``w`` on the
    η₁²η₂² coupling (see :func:`pair_coupling`).  Both bulk states have f = 0,
    so the minimised total is the interface energy.
    """
    from scipy.optimize import minimize

    x = (np.arange(n) - n / 2 + 0.5) * dx
    step = 0.5 * (1.0 - np.tanh(x / 2.0))  # 1 → 0
    z0 = np.concatenate([step, step if kind == "surface" else 1.0 - step])
    k_a = p.kappa_rho if kind == "surface" else p.kappa_eta

    def energy_and_gradient(z):
        a, b = z[:n], z[n:]
        if kind == "surface":
            rho, s2, s3 = a, b**2, b**3
            d_a, d_b = df_drho(rho, s2, s3, p), df_deta(rho, b, s2, p)
        else:
            rho, s2, s3 = np.ones(n), a**2 + b**2, a**3 + b**3
            # the pair factor w scales the 6B η₁²η₂² part of 3B(Ση²)²
            d_a = df_deta(rho, a, s2 - (1.0 - w) * b * b, p)
            d_b = df_deta(rho, b, s2 - (1.0 - w) * a * a, p)
        grad_a, grad_b = np.diff(a) / dx, np.diff(b) / dx
        couple = 0.0 if kind == "surface" else -6.0 * p.B * (1.0 - w) * np.sum(a * a * b * b)
        total = dx * (np.sum(bulk_energy(rho, s2, s3, p)) + couple
                      + np.sum(0.5 * k_a * grad_a**2 + 0.5 * p.kappa_eta * grad_b**2))
        lap_a, lap_b = np.zeros(n), np.zeros(n)
        lap_a[1:-1] = (a[2:] - 2 * a[1:-1] + a[:-2]) / dx**2
        lap_b[1:-1] = (b[2:] - 2 * b[1:-1] + b[:-2]) / dx**2
        g = dx * np.concatenate([d_a - k_a * lap_a, d_b - p.kappa_eta * lap_b])
        g[[0, n - 1, n, 2 * n - 1]] = 0.0  # the far ends stay in the bulk states
        return total, g

    res = minimize(energy_and_gradient, z0, jac=True, method="L-BFGS-B", bounds=[(-0.2, 1.2)] * (2 * n),
                   options={"maxiter": 20000, "ftol": 1e-14, "gtol": 1e-10})
    prof = res.x[:n]  # ρ for a surface, η₁ for a boundary: 1 → 0
    width = abs(np.interp(0.1, prof[::-1], x[::-1]) - np.interp(0.9, prof[::-1], x[::-1]))
    other = res.x[n:]
    layer = np.sum((prof * (1.0 - prof)) ** 2 if kind == "surface" else 2.0 * prof * other) * dx
    return float(res.fun), float(width), float(layer)


def interface_properties(p: Parameters) -> InterfaceProperties:
    """γ*_s, γ*_gb and widths of ``p`` from relaxed 1D profiles (reduced units)."""
    gs, ws, ls = _relax_1d(p, "surface")
    gg, wg, lg = _relax_1d(p, "gb")
    return InterfaceProperties(gs, gg, ws, wg, ls, lg)


@dataclass(frozen=True)
class Material:
    """Physical inputs of a sintering run (SI units); :meth:`reduce` maps them onto :class:`Parameters`."""

    gamma_s: float  # surface energy, J/m²
    gamma_gb: float  # grain-boundary energy, J/m²
    molar_volume: float  # m³/mol
    D_vol: Arrhenius
    D_surf: Arrhenius
    D_gb: Arrhenius
    D_vap: Arrhenius = field(default_factory=lambda: Arrhenius(0.0))
    L: float | None = None  # Allen–Cahn (grain-boundary) mobility in m³/(J s); None keeps the reduced L of ``base``
    delta_s: float = 5e-10  # surface diffusion layer thickness δ_s, m
    delta_gb: float = 5e-10  # grain-boundary diffusion layer thickness δ_gb, m

    def __post_init__(self) -> None:
        for name in ("delta_s", "delta_gb"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise DatarialError(f"{name} = {value} m: the diffusion layer thickness must be a positive length")

    def reduce(self, temperature: float, dx: float, base: Parameters | None = None) -> tuple[Parameters, float, float]:
        """Reduced parameters, t₀ (s per reduced time unit) and E₀ (J/m³) at ``temperature`` (K), grid spacing ``dx`` (m).

        The energy ratio γ_gb/γ_s is matched by scaling κ_η at fixed κ_ρ (the
        interface width follows from κ and A, B of ``base``).
        """
        if temperature <= 0 or dx <= 0:
            raise DatarialError("temperature (K) and grid spacing (m) must be positive")
        base = base or Parameters()
        target = self.gamma_gb / self.gamma_s
        if not 0.05 <= target <= 1.9:
            raise DatarialError(f"γ_gb/γ_s = {target:.3g} is outside what this model represents (0.05–1.9)")
        from scipy.optimize import brentq

        def mismatch(log_k):
            return interface_properties(base.replace(kappa_eta=float(np.exp(log_k)))).ratio - target

        lo, hi = np.log(0.05 * base.kappa_rho), np.log(5.0 * base.kappa_rho)
        if mismatch(lo) * mismatch(hi) > 0:
            raise DatarialError(f"γ_gb/γ_s = {target:.3g} cannot be reached by κ_η with A={base.A}, B={base.B}")
        k_eta = float(np.exp(brentq(mismatch, lo, hi, xtol=1e-4)))
        p = base.replace(kappa_eta=k_eta)
        props = interface_properties(p)
        E0 = self.gamma_s / (props.gamma_s * dx)
        RT = R_GAS * temperature
        layer = {"M_surf": self.delta_s / (props.layer_s * dx), "M_gb": self.delta_gb / (props.layer_gb * dx)}
        mob = {name: d.at(temperature) * self.molar_volume / RT * layer.get(name, 1.0) for name, d in
               (("M_vol", self.D_vol), ("M_surf", self.D_surf), ("M_gb", self.D_gb), ("M_vap", self.D_vap))}
        m_ref = max(mob.values())
        if m_ref <= 0:
            raise DatarialError("at least one diffusivity must be positive")
        t0 = dx**2 / (m_ref * E0)
        p = p.replace(**{k: v / m_ref for k, v in mob.items()})
        if self.L is not None:
            p = p.replace(L=self.L * E0 * t0)
        return p, t0, E0


# ----------------------------------------------------------------------------- misorientation-dependent boundary energy
PAIR_FACTOR_MIN = 0.32  # below ≈ 0.27 the boundary turns into a wide wetting layer (its 1D profile spreads)


def read_shockley(theta: np.ndarray, theta_max: float) -> np.ndarray:
    """γ_gb(θ)/γ_gb,max = (θ/θ_m)(1 − ln(θ/θ_m)) below θ_m, 1 above (angles in the same unit)."""
    x = np.clip(np.asarray(theta, dtype=float) / theta_max, 1e-12, 1.0)
    return np.where(x >= 1.0, 1.0, x * (1.0 - np.log(x)))


def pair_coupling(p: Parameters, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair factors w on the ηᵢ²ηⱼ² coupling giving boundary energies ``ratio`` × γ_gb(w = 1).

    γ_gb(w) is computed from relaxed 1D boundary profiles on a grid of w in
    [PAIR_FACTOR_MIN, 1] and inverted by interpolation; ratios below what
    PAIR_FACTOR_MIN gives are raised to it.  Returns (w, the ratio reached).
    """
    ws = np.linspace(PAIR_FACTOR_MIN, 1.0, 15)
    g1 = _relax_1d(p, "gb")[0]
    table = np.array([_relax_1d(p, "gb", w=float(w))[0] / g1 for w in ws])
    r = np.clip(np.asarray(ratio, dtype=float), table[0], 1.0)
    return np.interp(r, table, ws), r


def misorientations(rotation: np.ndarray, symmetry: str) -> np.ndarray:
    """Symmetry-reduced misorientation angle (degrees) between every pair of grains, (n, n).

    ``rotation``: (n, 3, 3) matrices taking crystal to lab components; ``symmetry``: the
    crystal's point group (``m-3m`` for Cu, ``4/mmm`` for Ba122).  Needs orix ([orientation]).
    """
    from datarial.micro import need
    from datarial.micro.grains import point_group

    orix_q = need("orix.quaternion", "orientation")
    sym = point_group(symmetry)
    o = orix_q.Orientation.from_matrix(np.transpose(np.asarray(rotation, dtype=float), (0, 2, 1)), symmetry=sym)
    ang = np.degrees(np.asarray(o.angle_with_outer(o), dtype=float))
    np.fill_diagonal(ang, 0.0)
    return 0.5 * (ang + ang.T)


def read_shockley_factors(p: Parameters, rotation: np.ndarray, symmetry: str,
                          theta_max: float = 15.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair factors (n, n) for Read–Shockley boundary energies; also the angles (°) and the energy ratios reached."""
    if not 0 < theta_max <= 62.8:
        raise DatarialError(f"read_shockley: theta_max = {theta_max}° must be in (0, 62.8]")
    ang = misorientations(rotation, symmetry)
    w, reached = pair_coupling(p, read_shockley(ang, theta_max))
    np.fill_diagonal(w, 1.0)
    np.fill_diagonal(reached, np.nan)  # no boundary of a grain with itself
    return w, ang, reached
