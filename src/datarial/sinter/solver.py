"""Time stepping of the sintering model on PyTorch tensors (CPU or GPU, float32 or float64).

* **Semi-implicit Fourier-spectral** (default): for ρ (Cahn–Hilliard) the
  stiff κ_ρ∇⁴ term is implicit with a constant stabilising mobility
  α = max M (Zhu et al. 1999, Phys. Rev. E 60, 3564), the rest explicit; ρ's
  mean is kept exactly (the k = 0 mode is untouched).  ``order=1`` (default)
  steps ρ by stabilised Euler, whose error ∝ Δt·α·κ_ρ·k⁴ slows the interface;
  ``rho_stabiliser`` scales α (default 1; from 0.5, where the explicit
  remainder (M − α)κ_ρ∇⁴ stays within α, and from 0.75 with order 2, whose
  extrapolated remainder needs M − α ≤ α/3; in benchmarks/sinter_speed.py's 2D
  case 0.6 at Δt 0.0667 ends nearer the converged ρ than 1 at Δt 0.05,
  1.22e-3 against 1.61e-3);
  ``order=2`` by stabilised SBDF2 (BDF2 with the explicit part extrapolated
  linearly, the stabiliser acting on ρⁿ⁺¹ − ρ*, an O(Δt²) term, and widened by
  α·2(A + B)k² to keep the extrapolated ∂²f/∂ρ² term stable), variable-step,
  starting and restarting with one Euler step.  The grain fields' Allen–Cahn
  equation by stabilised SBDF2 (default) or Strang splitting
  (``eta_scheme``), in sub-steps of ``eta_step``: see
  :mod:`datarial.sinter.grain_step`.
* **Explicit finite differences** (reference for verification and the
  benchmark): second-order central differences, forward Euler.  On the CPU
  the plain model (no anisotropy, tensorial mobility, rigid-body motion or
  pair factors) steps in one fused numba kernel
  (:func:`datarial.sinter._kernels.explicit_step`), the same numbers as the
  torch operations up to round-off and 7–10 times faster (benchmarks/sinter_speed.py).

Boundaries: periodic, or zero-flux by even (mirror) extension.  On the CPU the
spectral step then takes cosine transforms of the grid itself
(:class:`datarial.sinter.spectral.CosineSpectral`, scipy); on a GPU it
transforms the doubled grid, which gives the same numbers for more work.

Grains share order-parameter fields (:mod:`datarial.sinter.state`); the
densification measures are in :mod:`datarial.sinter.measures`.  Both are
re-exported here.  The Fourier operators are in :mod:`datarial.sinter.spectral`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from datarial.devices import retain_freed_memory
from datarial.errors import DatarialError
from datarial.sinter.grain_step import OMEGA_MAX, GrainFieldSteps, sbdf2_sub_step
from datarial.sinter.measures import Measures, hull_volume, measures, neck_radius
from datarial.sinter.model import (
    PAIR_FACTOR_MIN,
    Parameters,
    df_deta,
    df_drho,
    mobility,
    normal_flux,
)
from datarial.sinter.spectral import (
    CosineSpectral,
    Spectral,
    cosine_transforms,
    crop,
    mirror,
    mirror_extension,
)
from datarial.sinter.state import (
    Grains,
    SolverSettings,
    State,
    assign_fields,
    initial_state,
    remap_grains,
    update_owners,
    without_kernels,
)
from datarial.sinter.state import cpu_kernels as _cpu_kernels

__all__ = ["Grains", "Measures", "Simulation", "SolverSettings", "State", "assign_fields", "hull_volume",
           "initial_state", "measures", "mirror_extension", "neck_radius", "remap_grains", "update_owners",
           "without_kernels"]


class Simulation(GrainFieldSteps):
    """A sintering run: state, parameters and the stepper; :meth:`run` advances to a time."""

    def __init__(self, state: State, params: Parameters, settings: SolverSettings | None = None,
                 anisotropy: np.ndarray | None = None, pair_factors: np.ndarray | None = None) -> None:
        """``anisotropy``: k0…k3 of γ(n) (:mod:`datarial.sinter.anisotropy`, any unit) in each grain's
        crystal frame; the surface energy then varies as γ(n)/⟨γ⟩ around the calibrated one.
        ``pair_factors``: (grains × grains) factors w on the ηᵢ²ηⱼ² coupling, which set each boundary's
        energy (:func:`datarial.sinter.model.read_shockley_factors`); 1 everywhere is the plain model."""
        self.state = state
        self.pair_factors = None
        if pair_factors is not None:
            w = np.asarray(pair_factors, dtype=float)
            if w.shape != (state.grains.n, state.grains.n) or not np.allclose(w, w.T):
                raise DatarialError(f"pair factors must be a symmetric {state.grains.n}×{state.grains.n} matrix")
            if np.any(w < PAIR_FACTOR_MIN - 1e-12) or np.any(w > 1.0 + 1e-12):
                raise DatarialError(f"pair factors must lie in [{PAIR_FACTOR_MIN}, 1] "
                                    "(lower ones turn boundaries into wetting layers)")
            if np.any(w < 1.0):
                self.pair_factors = w
        self._pairs: list | None = None
        self.params = params
        self.settings = settings or SolverSettings()
        self.periodic = self.settings.boundary == "periodic"
        self.anisotropy = None
        if anisotropy is not None:
            from datarial.sinter.anisotropy import mean_gamma

            k = np.asarray(anisotropy, dtype=float).reshape(4)
            ref = mean_gamma(k)
            if not ref > 0:
                raise DatarialError("the anisotropic surface energy must be positive on average")
            self.anisotropy = k / ref
        self.dt = self.settings.dt
        self.rejected = 0
        # SBDF2 history: (ρ̂ⁿ⁻¹, rate ⁿ⁻¹, Δtₙ₋₁, the ρ tensor it led to); used only while
        # state.rho is still that tensor, so a state changed from outside restarts with Euler.
        self._history: tuple | None = None
        self._pending: tuple | None = None
        # ρ̂ of the last accepted step (periodic grids): (ρ tensor, its version, ρ̂).  The next step's forward
        # transform of ρ would give it back up to round-off, so it is taken instead while state.rho is
        # still that tensor, unchanged.
        self._rho_hat: tuple | None = None
        self._pending_hat: torch.Tensor | None = None
        self._init_grain_steps()
        dev, dt = state.rho.device, state.rho.dtype
        # zero flux: cosine transforms of the grid (CPU), or the real transform of its mirror extension
        self._mirrored = not self.periodic and not cosine_transforms(dev)
        if not self.periodic and not self._mirrored:
            self._spec: Spectral | CosineSpectral = CosineSpectral(state.shape, dt, dev)
        else:
            self._spec = Spectral(tuple(2 * n for n in state.shape) if self._mirrored else state.shape, dt, dev)
        if dev.type == "cpu":  # reuse the freed pages of each step's temporaries
            retain_freed_memory()

    # --------------------------------------------------------------- rigid-body motion
    def rigid_body_velocities(self) -> np.ndarray:
        """Velocity (cells per reduced time) of every grain from the neck forces (Wang 2006)."""
        p, st = self.params, self.state
        g = st.grains
        vel = np.zeros((g.n, st.dim))
        if p.m_tr <= 0 or p.k_st <= 0 or st.eta.shape[0] < 2:
            return vel
        eta = st.eta
        neck = (eta >= p.c_neck).sum(dim=0) >= 2  # ηᵢηⱼ ≥ c needs both ≥ c
        idx = torch.nonzero(neck, as_tuple=False)  # (m, d)
        if len(idx) == 0:
            return vel
        shape = st.shape
        # Central-difference gradients of every field at the neck voxels.
        grads = []
        for ax in range(st.dim):
            up, dn = idx.clone(), idx.clone()
            up[:, ax] += 1
            dn[:, ax] -= 1
            if self.periodic:
                up[:, ax] %= shape[ax]
                dn[:, ax] %= shape[ax]
            else:
                up[:, ax].clamp_(0, shape[ax] - 1)
                dn[:, ax].clamp_(0, shape[ax] - 1)
            grads.append((eta[(slice(None), *up.T)] - eta[(slice(None), *dn.T)]) / 2.0)
        grad = torch.stack(grads, dim=-1)  # (F, m, d)
        e = eta[(slice(None), *idx.T)]  # (F, m)
        rho = st.rho[tuple(idx.T)]
        pair = (e[:, None, :] * e[None, :, :]) >= p.c_neck  # (F, F, m)
        nf = e.shape[0]
        pair[torch.arange(nf), torch.arange(nf)] = False
        # Σ_j [∇η_i − ∇η_j] over the fields j in contact with i.
        count = pair.sum(dim=1).to(grad.dtype)  # (F, m)
        others = torch.einsum("ijm,jmd->imd", pair.to(grad.dtype), grad)
        dens = p.k_st * (rho - p.rho0)[None, :, None] * (count[..., None] * grad - others)  # (F, m, d)
        own = st.owner[(slice(None), *idx.T)].long()  # (F, m)
        ok = own >= 0
        force = torch.zeros((g.n, st.dim), dtype=grad.dtype, device=grad.device)
        force.index_add_(0, own[ok], dens[ok])
        vol = torch.as_tensor(np.maximum(g.volume, 1e-6), dtype=grad.dtype, device=grad.device)
        return (p.m_tr * force / vol[:, None]).cpu().numpy()

    def _velocity_fields(self) -> list[torch.Tensor] | None:
        """Per-field velocity components (F, *grid), one per axis, or None without motion."""
        g, st, p = self.state.grains, self.state, self.params
        if p.m_tr <= 0 or not np.any(g.velocity):
            return None
        v = torch.as_tensor(np.vstack([g.velocity, np.zeros((1, st.dim))]), dtype=st.rho.dtype, device=st.rho.device)
        own = st.owner.long().clone()
        own[own < 0] = g.n  # the zero row
        body = (st.eta / p.c_body).clamp(0.0, 1.0)  # continuous: no source at the edge of the body
        return [v[:, ax][own] * body for ax in range(st.dim)]

    # --------------------------------------------------------------- one step
    def _rates_explicit(self, rho: torch.Tensor, eta: torch.Tensor, vel) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.params
        d = rho.dim()
        dims = tuple(range(-d, 0))

        def shift(x, ax, s):
            if self.periodic:
                return torch.roll(x, shifts=s, dims=ax)
            # Zero flux: the ghost cell repeats the edge cell (mirror about the face); s = ±1.
            n = x.shape[ax]
            if s > 0:
                return torch.cat([x.narrow(ax, 0, 1), x.narrow(ax, 0, n - 1)], dim=ax)
            return torch.cat([x.narrow(ax, 1, n - 1), x.narrow(ax, n - 1, 1)], dim=ax)

        def lap(x):
            return sum(shift(x, a, 1) + shift(x, a, -1) - 2 * x for a in dims)

        def face_difference(up, a):
            # ``up`` on the face above each cell along axis a, minus its value on the face below; a zero-flux
            # wall carries none
            if not self.periodic:
                up.narrow(a, up.shape[a] - 1, 1).zero_()
            dn = shift(up, a, 1)  # the face below is the one above the cell below
            if not self.periodic:
                dn.narrow(a, 0, 1).zero_()
            return up - dn

        s2, s3 = (eta * eta).sum(0), (eta**3).sum(0)
        gb = eta.sum(0) ** 2 - s2
        if self.anisotropy is None:
            mu = df_drho(rho, s2, s3, p) - p.kappa_rho * lap(rho)
        else:
            # δE/δρ of the discrete energy E = Σ ½ κ_ρ a(n)² |D⁺ρ|² with forward differences D⁺
            # (for a = 1 exactly −κ_ρ ∇²ρ of the stencil above), by autograd.
            # The energy is the mean of the forward- and backward-difference ones, which keeps the
            # stencil centred (one-sided normals alone bias the anisotropy by half a cell).
            r = rho.detach().requires_grad_(True)
            energy = 0
            for sgn in (-1, 1):
                G = torch.stack([sgn * (r - shift(r, a, -sgn)) for a in dims])
                a = self._anisotropy_factor(G, eta, self.state.owner)
                energy = energy + 0.25 * p.kappa_rho * (a * a * (G * G).sum(0)).sum()
            (grad_e,) = torch.autograd.grad(energy, r)
            mu = df_drho(rho, s2, s3, p) + grad_e.detach()
        M = mobility(rho, gb, p)
        drho = torch.zeros_like(rho)
        for k, a in enumerate(dims):
            # Face fluxes M_{i±1/2}(μ_{i±1} − μ_i); at a zero-flux wall the ghost repeats the edge, so they vanish.
            up = 0.5 * (M + shift(M, a, -1)) * (shift(mu, a, -1) - mu)
            if p.tensorial > 0:
                up = up - self._across_face(mu, rho, eta, a, k, shift)
            drho = drho + face_difference(up, a)
        deta = -p.L * (df_deta(rho, eta, self._coupled_s2(eta), p) - p.kappa_eta * lap(eta))
        if vel is not None:
            for a, vc in zip(dims, vel, strict=True):
                # η is carried (advective form, a rigid shift); ρ's flux keeps its mass (conservative form)
                deta = deta - vc * (shift(eta, a, -1) - shift(eta, a, 1)) / 2.0
                # ρv through the face above each cell (the mean of the two cells: central differences); none
                # through a zero-flux wall, where a grain touching it would otherwise carry mass out
                fr = rho * vc.sum(0)
                drho = drho - face_difference(0.5 * (fr + shift(fr, a, -1)), a)
        return drho, deta

    def _across_face(self, mu, rho, eta, a: int, k: int, shift) -> torch.Tensor:
        """The cross-interface part of the surface and boundary fluxes (``normal_flux``, component ``k``) on the
        faces between each cell and the next along axis ``a``: gradients along ``a`` compact across the face, the
        others central and averaged over the two cells; zero on a zero-flux wall."""
        dims = tuple(range(-rho.dim(), 0))

        def face_grad(x):
            out = []
            for b in dims:
                if b == a:
                    out.append(shift(x, b, -1) - x)
                else:
                    c = shift(x, b, -1) - shift(x, b, 1)  # twice the central difference, at the cell centres
                    out.append(0.25 * (c + shift(c, a, -1)))
            return out

        def face(x):
            return 0.5 * (x + shift(x, a, -1))

        out = normal_flux(face_grad(mu), face(rho), face(eta), face_grad(rho), face_grad(eta), self.params)[k]
        if not self.periodic:
            out.narrow(a, rho.shape[a] - 1, 1).zero_()
        return out

    def _step_explicit(self, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        st, p = self.state, self.params
        vel = self._velocity_fields()
        kernels = _cpu_kernels() if st.rho.device.type == "cpu" else None
        if (kernels is not None and vel is None and self.anisotropy is None and p.tensorial == 0
                and self.pair_factors is None):  # the plain model: one fused kernel, two passes over the grid
            rho, eta = st.rho.detach().contiguous(), st.eta.detach().contiguous()
            grid = (1, *rho.shape) if st.dim == 2 else rho.shape
            mu, mob = torch.empty(grid, dtype=torch.float64), torch.empty(grid, dtype=torch.float64)
            rho_new, eta_new = torch.empty_like(rho), torch.empty_like(eta)
            kernels.explicit_step(rho.reshape(grid).numpy(), eta.reshape(eta.shape[0], *grid).numpy(), float(p.A),
                                  float(p.B), float(p.L), float(p.kappa_rho), float(p.kappa_eta), float(p.M_vol),
                                  float(p.M_vap), float(p.M_surf), float(p.M_gb), float(dt), self.periodic,
                                  mu.numpy(), mob.numpy(), rho_new.reshape(grid).numpy(),
                                  eta_new.reshape(eta.shape[0], *grid).numpy())
            return rho_new, eta_new
        drho, deta = self._rates_explicit(st.rho, st.eta, vel)
        return st.rho + dt * drho, st.eta + dt * deta

    def _anisotropy_factor(self, G: torch.Tensor, eta: torch.Tensor, owner: torch.Tensor,
                           mirrored: bool = False) -> torch.Tensor:
        """a = Σηᵢ γ(Rᵢᵀn)/⟨γ⟩ / Σηᵢ at every voxel, n = G/|G| (G: gradient components in grid-axis order).

        ``mirrored``: the grid is the even extension of the domain (zero-flux spectral step); in the
        copies mirrored along an axis the normal's component along it is flipped before the
        crystal frame is applied, so each copy sees its grain's own γ(n) and the extension stays even.
        """
        st, d = self.state, self.state.dim
        norm = torch.sqrt((G * G).sum(0) + 1e-12)
        comps = [G[a] / norm for a in range(d)]
        if mirrored:
            for a in range(d):
                n = G.shape[1 + a]
                sign = torch.ones(n, dtype=G.dtype, device=G.device)
                sign[n // 2:] = -1.0
                comps[a] = comps[a] * sign.reshape([-1 if b == a else 1 for b in range(d)])
        lab = [comps[d - 1 - j] for j in range(d)] + [torch.zeros_like(norm)] * (3 - d)  # (x, y, z)
        k = self.anisotropy
        rot = torch.as_tensor(np.concatenate([st.grains.rotation, np.eye(3)[None]]), dtype=G.dtype, device=G.device)
        num = torch.zeros_like(norm)
        den = torch.zeros_like(norm)
        for f in range(eta.shape[0]):
            own = owner[f].long().clone()
            own[own < 0] = st.grains.n  # identity for voxels no grain owns
            R = rot[own]  # (*grid, 3, 3); crystal components = Rᵀ n
            u, v, w = (sum(R[..., j, c] * lab[j] for j in range(3)) for c in range(3))
            gam = k[0] - k[1] * w * w + k[2] * (u * u + v * v) ** 2 + k[3] * u * u * v * v
            num = num + eta[f] * gam
            den = den + eta[f]
        return torch.where(den > 1e-3, num / den.clamp_min(1e-3), torch.ones_like(num))

    def _anisotropic_xi(self, grads: list[torch.Tensor], eta: torch.Tensor,
                        owner: torch.Tensor) -> tuple[list[torch.Tensor], float]:
        """ξ = ∂e/∂∇ρ of e = ½ κ_ρ a(n)² |∇ρ|² (by autograd), and max a; spectral gradients.

        The dependence of a on η (the weights) is left out of the η equation.
        """
        G = torch.stack(grads).detach().requires_grad_(True)  # grid-axis order (z, y, x) or (y, x)
        a = self._anisotropy_factor(G, eta, owner, mirrored=self._mirrored)
        energy = 0.5 * self.params.kappa_rho * (a * a * (G * G).sum(0)).sum()
        (xi,) = torch.autograd.grad(energy, G)
        return [xi[j].detach() for j in range(self.state.dim)], float(a.detach().max())

    def _pair_maps(self) -> list[tuple[int, int, torch.Tensor]]:
        """(f, g, 1 − w map) for the field pairs holding grains with a reduced boundary energy."""
        st, w = self.state, self.pair_factors
        n = st.grains.n
        table = torch.ones((n + 1, n + 1), dtype=st.eta.dtype, device=st.eta.device)
        table[:n, :n] = torch.as_tensor(w, dtype=st.eta.dtype)
        own = st.owner.long().clone()
        own[own < 0] = n
        members = [np.flatnonzero(st.grains.field == f) for f in range(st.eta.shape[0])]
        out = []
        for f, a in enumerate(members):
            for g in range(f + 1, len(members)):
                b = members[g]
                if a.size and b.size and w[np.ix_(a, b)].min() < 1.0:
                    out.append((f, g, 1.0 - table[own[f], own[g]]))
        return out

    def _density_terms(self, rho: torch.Tensor, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """∂f/∂ρ and the mobility M at every voxel (one pass of a numba kernel on the CPU)."""
        p = self.params
        kernels = _cpu_kernels() if rho.device.type == "cpu" else None
        if kernels is None:
            s2, s3 = (eta * eta).sum(0), (eta**3).sum(0)
            return df_drho(rho, s2, s3, p), mobility(rho, eta.sum(0) ** 2 - s2, p)
        r, e = rho.detach().contiguous(), eta.detach().contiguous()
        dfdrho, mob = torch.empty_like(r), torch.empty_like(r)
        kernels.density_terms(r.reshape(-1).numpy(), e.reshape(e.shape[0], -1).numpy(), float(p.A), float(p.B),
                              float(p.M_vol), float(p.M_vap), float(p.M_surf), float(p.M_gb),
                              dfdrho.reshape(-1).numpy(), mob.reshape(-1).numpy())
        return dfdrho, mob

    def _step_spectral(self, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        st, p, sp = self.state, self.params, self._spec
        d = st.dim
        rho, eta = st.rho, st.eta
        vel = self._velocity_fields()
        split = self.settings.eta_scheme == "split"
        eta_dt = self.settings.eta_step
        if eta_dt is None and not split:  # SBDF2's own sub-step: boundary motion within about 2 %
            eta_dt = sbdf2_sub_step(p)
        subs = 1 if eta_dt is None else max(1, math.ceil(dt / eta_dt - 1e-9))
        h = dt / subs
        # The reaction is local, so it runs on the grid itself, not on the mirror extension.
        eta_react = self._react(rho, eta, 0.5 * h) if split else None
        rho0 = rho
        dfdrho, M = self._density_terms(rho, eta)  # local: on the grid itself, then mirrored
        if self._mirrored:
            rho, eta, dfdrho, M = (mirror(x, d) for x in (rho, eta, dfdrho, M))
            if vel is not None:  # the normal component of a mirrored velocity changes sign
                vel = [mirror(c, d, sign=[(-1.0 if a == ax else 1.0) for a in range(d)]) for ax, c in enumerate(vel)]
        kept = self._rho_hat
        if kept is not None and kept[0] is st.rho and kept[0]._version == kept[1]:
            rho_h = kept[2]
        else:
            rho_h = sp.fft(rho)
        if self.anisotropy is None:
            mu_h = sp.fft(dfdrho).addcmul_(sp.k2, rho_h, value=p.kappa_rho)  # + κ_ρ k² ρ̂
            a_max = 1.0
        else:
            owner = mirror(st.owner, d) if self._mirrored else st.owner
            xi, a_max = self._anisotropic_xi(sp.grad(rho_h), eta, owner)
            mu_h = sp.fft(dfdrho) - sp.div_hat(xi)
        grad_mu = sp.grad(mu_h)
        flux = [M * g for g in grad_mu]
        if p.tensorial > 0:  # normals by central differences

            def cgrad(x):
                if self.periodic or self._mirrored:  # the grid wraps (or is the wrapped mirror extension)
                    return [0.5 * (torch.roll(x, -1, a) - torch.roll(x, 1, a)) for a in sp.dims]
                # cosine transforms of the grid itself: at a wall the ghost repeats the edge cell, as the mirror
                # extension does
                out = []
                for a in sp.dims:
                    n = x.shape[a]
                    up = torch.cat([x.narrow(a, 1, n - 1), x.narrow(a, n - 1, 1)], dim=a)
                    dn = torch.cat([x.narrow(a, 0, 1), x.narrow(a, 0, n - 1)], dim=a)
                    out.append(0.5 * (up - dn))
                return out

            across = normal_flux(grad_mu, rho, eta, cgrad(rho), cgrad(eta), p)
            flux = [f - c for f, c in zip(flux, across, strict=True)]
        if vel is not None:
            v_tot = [c.sum(0) for c in vel]
            flux = [f - rho * v for f, v in zip(flux, v_tot, strict=True)]
        alpha = self.settings.rho_stabiliser * float(M.max())  # one device sync
        stab = (alpha * p.kappa_rho * a_max**2) * sp.k4
        sbdf2 = self.settings.order == 2
        if sbdf2:
            # The linear extrapolation of the explicit part leaves it a narrower stability interval
            # than Euler's, so the stabiliser also covers the ∇²-term of μ up to the largest
            # ∂²f/∂ρ² = 2(A + B) (its error is O(Δt²) like the rest).
            stab = stab + (alpha * 2.0 * (p.A + p.B)) * sp.k2
        rate_h = sp.div_hat(flux)
        prev = self._history if sbdf2 else None
        if prev is not None and prev[3] is st.rho and dt / prev[2] <= OMEGA_MAX:
            # Variable-step SBDF2 (ω = Δtₙ/Δtₙ₋₁): BDF2 in time, the explicit part extrapolated
            # linearly, and the stabiliser acting on ρⁿ⁺¹ − ρ*, with ρ* the same extrapolation.
            rho_h1, rate_h1, dt1, _ = prev
            w = dt / dt1
            star = (1.0 + w) * rho_h - w * rho_h1
            num = ((1.0 + w) * rho_h - (w * w / (1.0 + w)) * rho_h1 + dt * ((1.0 + w) * rate_h - w * rate_h1)
                   + dt * stab * star)
            new_h = num / ((1.0 + 2.0 * w) / (1.0 + w) + dt * stab)
        else:
            # (ρ̂ + Δt rate + Δt S ρ̂)/(1 + Δt S) = ρ̂ + Δt rate/(1 + Δt S); stab is this step's own tensor
            new_h = torch.addcdiv(rho_h, rate_h, stab.mul_(dt).add_(1.0), value=dt)
        rho_new = sp.ifft(new_h)
        # on a mirror-extended grid the spectrum is not kept: crop and mirror re-impose the even symmetry each step
        self._pending_hat = None if self._mirrored else new_h
        self._pending = (rho_h, rate_h, dt) if sbdf2 else None
        if self._mirrored:
            rho_new = crop(rho_new, st.shape)
        if not split:
            return rho_new, self._eta_sbdf2(rho0, rho_new, st.eta, vel, h, subs)
        # Allen–Cahn by Strang splitting (:mod:`datarial.sinter.grain_step`): the first half step of the
        # reaction above, on ρⁿ; the rest in ``subs`` sub-steps h
        eta = self._eta_split(rho0, rho_new, eta_react, vel, h, subs)
        return rho_new, eta

    def step(self) -> float:
        """Advance one (accepted) step; returns the step size used."""
        st, s = self.state, self.settings
        stepper = self._step_spectral if s.method == "spectral" else self._step_explicit
        if st.steps % s.owner_every == 0:
            update_owners(st, self.periodic)
            if st.eta.shape[0] > 1:
                remap_grains(st, self.periodic, s.remap_margin)
            if self.pair_factors is not None:  # owners (and maybe fields) changed
                self._pairs = self._pair_maps()
        if self.params.m_tr > 0:
            st.grains.velocity = self.rigid_body_velocities()  # every step: the force feeds back fast
        while True:
            dt = self.dt
            rho_new, eta_new = stepper(dt)
            if s.adaptive:
                change = max(float((rho_new - st.rho).abs().max()), float((eta_new - st.eta).abs().max()))
            else:  # only whether it blew up: one read of each field, no temporaries (a sum of finite values
                # overflows only in a blow-up too)
                change = float(rho_new.sum() + eta_new.sum())
            if not math.isfinite(change):
                raise DatarialError(f"the solution blew up at t = {st.time:.4g} with Δt = {dt:.3g}: "
                                    "use a smaller time step (or the spectral method)")
            if not s.adaptive or change <= s.change_max or dt < 1e-8:
                break
            self.dt = dt * 0.5
            self.rejected += 1
        st.rho, st.eta = rho_new, eta_new
        self._rho_hat = None if self._pending_hat is None else (rho_new, rho_new._version, self._pending_hat)
        self._pending_hat = None
        if self._pending is not None:  # this step's ρ̂ and rate, for the next SBDF2 step
            self._history = (*self._pending, rho_new)
            self._pending = None
        if self._eta_pending is not None:  # the last sub-step's ηⁿ⁻¹, rate and length, for the next
            self._eta_history = (*self._eta_pending, eta_new, eta_new._version)
            self._eta_pending = None
        st.time += dt
        st.steps += 1
        if s.adaptive and change < 0.25 * s.change_max:
            self.dt = min(dt * 1.2, s.dt_max)
        return dt

    def run(self, t_end: float, callback: Callable[[State], None] | None = None, every: float | None = None,
            progress: Callable[[float, float], None] | None = None, max_steps: int = 10_000_000) -> State:
        """Step until ``t_end`` (reduced time); ``callback(state)`` every ``every`` time units (and at the end)."""
        st = self.state
        next_out = st.time + every if every else math.inf
        last_out = None
        while st.time < t_end - 1e-12:
            if st.steps >= max_steps:
                raise DatarialError(f"stopped after {max_steps} steps at t = {st.time:.4g} of {t_end:.4g}")
            want, room = self.dt, min(t_end, next_out) - st.time
            clipped = room < want
            if clipped:
                self.dt = max(room, 1e-12)
            before = self.rejected
            self.step()
            if clipped and self.rejected == before:
                self.dt = want  # the clip was for the output time, not for stability
            if progress is not None:
                progress(st.time, t_end)
            if callback is not None and st.time >= next_out - 1e-12:
                callback(st)
                last_out = st.time
                next_out += every
        if callback is not None and last_out != st.time:
            callback(st)
        return st
