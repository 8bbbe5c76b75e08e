"""The grain fields' Allen–Cahn step of the spectral method (a mixin of
:class:`datarial.sinter.solver.Simulation`).

* **Strang splitting** (``eta_scheme="split"``, the default until 2026-12): half a step of the
  local reaction −L ∂f/∂η (exponential-Euler sub-steps, exact for its stiff
  linear part; with ``order=2`` ETD2RK, second order), L κ_η ∇² exactly in
  Fourier space (with the rigid-body advection), the other half of the
  reaction.  With ``eta_step`` the η equation takes ⌈Δt/eta_step⌉ such
  sub-steps per step of ρ.  A split step's fixed point is not the
  equilibrium profile: for the default L and B, split steps above 0.01–0.03
  thin grain boundaries (benchmarks/sinter_split.py).
* **Stabilised SBDF2** (``eta_scheme="sbdf2"``, default): L κ_η ∇² and a constant
  S = 12 B, the largest ∂²f/∂ηᵢ² in the bulk, implicit; the rest
  extrapolated linearly; variable-step, starting and restarting with one
  Strang split step.  Its fixed point is the equilibrium profile at any Δt,
  and the stabiliser acts on ηⁿ⁺¹ − η*, an O(Δt²) term, which slows boundary
  motion by 2 % at Δt 0.025 and 9 % at 0.05 (default L, κ_η, B: the
  shrinking grain of benchmarks/sinter_split.py).  Stabilised Euler, S on
  ηⁿ⁺¹ − ηⁿ, would slow it by the factor 1 + Δt L S, 7 at Δt 0.05, so it
  does not (re)start the scheme.  Without ``eta_step`` SBDF2 takes sub-steps
  of at most 0.25/(L B) (0.025 by default), so that its boundaries keep
  their speed within about 2 % at any Δt of ρ; ``eta_step`` sets another
  bound.  With S = 6 B the 2D packing of benchmarks/sinter_speed.py went
  unstable at Δt 0.05 (its boundary layer grew 80-fold by t = 2).

On the CPU the local terms run in numba kernels (:mod:`datarial.sinter._kernels`), elsewhere in torch.
"""

from __future__ import annotations

import math

import torch

from datarial.sinter.model import d2f_deta2, df_deta
from datarial.sinter.spectral import crop, mirror
from datarial.sinter.state import cpu_kernels

# Largest ratio of consecutive steps for an SBDF2 step (of ρ or of the grain fields); a larger jump (e.g. after
# a step shortened to land on an output time) restarts the scheme.  Variable-step BDF2 is zero-stable below
# 1 + √2.
OMEGA_MAX = 2.0

# The stabiliser S of the SBDF2 grain-field step, in units of B: the largest ∂²f/∂ηᵢ² = 12 B((1 − ρ) −
# 2(2 − ρ)ηᵢ + Σηⱼ² + 2ηᵢ²) with ρ and η in [0, 1] and one grain present (12 B in the bulk of a grain and in
# the vapour).  With half of it, benchmarks/sinter_speed.py's 2D packing went unstable at Δt 0.05 (its boundary
# layer grew 80-fold by t = 2; 9 B and 12 B kept it within 0.1 % of each other).
ETA_STABILISER = 12.0

# The SBDF2 grain-field sub-step where ``eta_step`` is not given, times L B: its O(Δt²) error slows boundary motion
# by 2 % at 0.25 (Δt 0.025 for the default L = 10, B = 1), by 9 % at 0.5 (benchmarks/sinter_split.py).
SBDF2_SUB_STEP = 0.25


def sbdf2_sub_step(params) -> float:
    """The SBDF2 grain-field sub-step where ``eta_step`` is not given (reduced time): 0.25/(L B)."""
    return SBDF2_SUB_STEP / (params.L * params.B)

# Largest dh·12LB of an ETD2RK reaction sub-step.  On 2·10⁵ random two-field states
# (η in −0.05…1.1, any ρ) it blew up for 19 % of them at 6, for none at 3, and was
# more accurate than exponential Euler (median error 4× lower per halving) from 1.5 down.
ETD2_STIFFNESS_STEP = 1.5


class GrainFieldSteps:
    """The η step's methods; the class using them provides ``state``, ``params``, ``settings``, ``pair_factors``,
    ``_pairs``, ``_spec`` and ``_mirrored`` (whether ``_spec`` works on the mirror extension of a zero-flux grid),
    and calls :meth:`_init_grain_steps` when made."""

    def _init_grain_steps(self) -> None:
        # SBDF2 history of the grain fields (``eta_scheme="sbdf2"``): (ηⁿ⁻¹, its explicit rate, the sub-step
        # from it, the η tensor it led to, that tensor's version): used only while state.eta is still that
        # tensor, unchanged (a grain remapped to another field restarts with a split step).  ``_eta_pending``
        # holds the last step's until it is accepted; ``_eta_implicit`` the kept implicit factor.
        self._eta_history: tuple | None = None
        self._eta_pending: tuple | None = None
        self._eta_implicit: tuple | None = None

    def _coupled_s2(self, eta: torch.Tensor) -> torch.Tensor:
        """Σⱼηⱼ², or per field ηᵢ² + Σ_{j≠i} wᵢⱼηⱼ² with pair factors (what ∂f/∂ηᵢ multiplies ηᵢ by)."""
        s2 = (eta * eta).sum(0)
        if self.pair_factors is None or not self._pairs:
            return s2
        s2 = s2.expand_as(eta).clone()
        for f, g, m in self._pairs:
            s2[f] -= m * eta[g] * eta[g]
            s2[g] -= m * eta[f] * eta[f]
        return s2

    def _react(self, rho: torch.Tensor, eta: torch.Tensor, h: float) -> torch.Tensor:
        """∂η/∂t = −L ∂f/∂η at each voxel over ``h`` in sub-steps of at most ``react_step``.

        Each sub-step takes the diagonal stiffness a = −L ∂²f/∂ηᵢ² at its start
        as the linear part: exponential Euler, ηᵢ + dh φ₁(dh a) Rᵢ (R the rate),
        is exact for it but first order in the rest (the coupling of the fields
        at boundaries); with ``order=2`` the Cox–Matthews ETD2RK corrector
        dh φ₂(dh a)(R(η*) − R − a(η* − η)) makes it second order, in sub-steps
        of at most 1.5/(12 L B) (0.0125 for the default L and B).
        """
        p = self.params
        second = self.settings.order == 2
        sub = self.settings.react_step
        if second:  # ETD2RK's corrector needs a shorter sub-step (see ETD2_STIFFNESS_STEP)
            sub = min(sub, ETD2_STIFFNESS_STEP / (12.0 * p.L * p.B))
        m = max(1, math.ceil(h / sub - 1e-9))
        dh = h / m
        kernels = cpu_kernels() if eta.device.type == "cpu" and self.pair_factors is None else None
        if kernels is not None:
            e = eta.detach().contiguous()
            r = rho.detach().contiguous()
            out = torch.empty_like(e)
            kernels.react(r.reshape(-1).numpy(), e.reshape(e.shape[0], -1).numpy(), out.reshape(e.shape[0], -1).numpy(),
                          float(p.L), float(p.B), float(dh), int(m), second)
            return out

        for _ in range(m):
            s2 = self._coupled_s2(eta)
            r0 = -p.L * df_deta(rho, eta, s2, p)
            z = -dh * p.L * d2f_deta2(rho, eta, s2, p)
            phi1 = torch.where(z.abs() > 1e-6, torch.expm1(z) / z, 1.0 + 0.5 * z)
            pred = eta + dh * phi1 * r0
            if second:
                r1 = -p.L * df_deta(rho, pred, self._coupled_s2(pred), p)
                small = z.abs() < 1e-2  # φ₂'s closed form cancels there: its series instead
                phi2 = torch.where(small, 0.5 + z * (1.0 / 6.0 + z / 24.0),
                                   (torch.expm1(z) - z) / torch.where(small, 1.0, z * z))
                pred = pred + dh * phi2 * (r1 - r0 - (z / dh) * (pred - eta))
            eta = pred
        return eta

    def _eta_split(self, rho0: torch.Tensor, rho1: torch.Tensor, eta: torch.Tensor, vel, h: float,
                   subs: int) -> torch.Tensor:
        """``subs`` Strang split sub-steps h of the η equation from ``eta``, which has had its first half step of
        the reaction: L κ_η ∇² exactly in Fourier space (with the advection), then the reaction's half step and
        the next sub-step's first half joined; the reaction sees ρ interpolated linearly from ρⁿ to ρⁿ⁺¹."""
        for j in range(subs):
            eta = self._eta_diffuse(eta, vel, h)
            if j == subs - 1:
                eta = self._react(rho1, eta, 0.5 * h)
            else:
                eta = self._react(torch.lerp(rho0, rho1, (j + 1) / subs), eta, h)
        return eta

    def _eta_diffuse(self, eta: torch.Tensor, vel, h: float) -> torch.Tensor:
        """The split step's linear part over h: L κ_η ∇² exactly in Fourier space, with the advection."""
        st, p, sp, d = self.state, self.params, self._spec, self.state.dim
        eta_h = sp.fft(mirror(eta, d) if self._mirrored else eta)
        if vel is not None:  # advective form: a rigid shift of each grain's η
            eta_h = eta_h - h * sp.fft(sum(c * g for c, g in zip(vel, sp.grad(eta_h), strict=True)))
        eta = sp.ifft(eta_h.mul_(sp.decay(p.L * p.kappa_eta, h)))
        return crop(eta, st.shape) if self._mirrored else eta

    def _eta_rhs(self, rho: torch.Tensor, eta: torch.Tensor, S: float, vel, h: float,
                 last: tuple | None) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(R, q, a) of one stabilised η sub-step h: the explicit part R = −L ∂f/∂η + L S η − v·∇η, the
        right-hand side q and the factor a of ηⁿ⁺¹ (Euler where ``last`` = (ηⁿ⁻¹, Rⁿ⁻¹, hₙ₋₁) is None)."""
        st, p, sp, d = self.state, self.params, self._spec, self.state.dim
        if last is None:
            coef, a = (1.0, 0.0, h, 0.0), 1.0
        else:
            w = h / last[2]
            coef, a = (1.0 + w, -w * w / (1.0 + w), h * (1.0 + w), -h * w), (1.0 + 2.0 * w) / (1.0 + w)
        e1, r1 = (eta, eta) if last is None else last[:2]
        kernels = (cpu_kernels() if eta.device.type == "cpu" and self.pair_factors is None and vel is None
                   else None)
        if kernels is not None:  # one pass: R and q
            e, r = eta.detach().contiguous(), rho.detach().contiguous()
            rate, q = torch.empty_like(e), torch.empty_like(e)
            flat = [x.reshape(x.shape[0], -1).numpy() for x in (e, e1.contiguous(), r1.contiguous(), rate, q)]
            kernels.eta_sbdf2(r.reshape(-1).numpy(), *flat[:3], float(p.L), float(p.B), float(S), *coef, *flat[3:])
            return rate, q, a
        rate = (eta * (p.L * S)).sub_(df_deta(rho, eta, self._coupled_s2(eta), p), alpha=p.L)
        if vel is not None:  # advection, explicit: −v·∇η, the gradient spectral on the (mirrored) grid
            grads = sp.grad(sp.fft(mirror(eta, d) if self._mirrored else eta))
            adv = sum(c * g for c, g in zip(vel, grads, strict=True))
            rate = rate - (crop(adv, st.shape) if self._mirrored else adv)
        q = (eta * coef[0]).add_(rate, alpha=coef[2])
        if last is not None:
            q.add_(e1, alpha=coef[1]).add_(r1, alpha=coef[3])
        return rate, q, a

    def _eta_sbdf2(self, rho0: torch.Tensor, rho1: torch.Tensor, eta: torch.Tensor, vel, h: float,
                   subs: int) -> torch.Tensor:
        """``subs`` stabilised SBDF2 sub-steps h of the η equation (a Strang split sub-step where there is no
        valid history).

        ηⁿ⁺¹ = [(1 + ω)ηⁿ − ω²/(1 + ω) ηⁿ⁻¹ + h((1 + ω)Rⁿ − ωRⁿ⁻¹)] / ((1 + 2ω)/(1 + ω) + h L (S + κ_η k²))
        in Fourier space, ω = h/hₙ₋₁, R = −L ∂f/∂η + L S η − v·∇η (explicit); the sub-steps see ρ
        interpolated linearly from ρⁿ to ρⁿ⁺¹.
        """
        st, p, sp, d = self.state, self.params, self._spec, self.state.dim
        S = ETA_STABILISER * p.B
        prev = self._eta_history
        last = None
        if prev is not None and prev[3] is eta and prev[4] == eta._version and h / prev[2] <= OMEGA_MAX:
            last = prev[:3]
        for j in range(subs):
            rho = rho0 if j == 0 else torch.lerp(rho0, rho1, j / subs)
            if last is None:
                # (re)start: one Strang split sub-step, which keeps the boundaries' motion (stabilised Euler
                # would slow it by the factor 1 + h L S, 7 at h = 0.05 for the default L and B), and the
                # explicit part at its start for the next step's extrapolation
                rate = self._eta_rhs(rho, eta, S, vel, h, None)[0]
                rho_end = rho1 if j == subs - 1 else torch.lerp(rho0, rho1, (j + 1) / subs)
                new = self._react(rho_end, self._eta_diffuse(self._react(rho, eta, 0.5 * h), vel, h), 0.5 * h)
                last, eta = (eta, rate, h), new
                continue
            rate, q, a = self._eta_rhs(rho, eta, S, vel, h, last)
            key = (p.L, S, p.kappa_eta, h, a)
            if self._eta_implicit is None or self._eta_implicit[0] != key:  # 1 / (a + h L (S + κ_η k²)), kept
                self._eta_implicit = (key, 1.0 / ((p.L * h) * (S + p.kappa_eta * sp.k2) + a))
            q_h = sp.fft(mirror(q, d) if self._mirrored else q)
            new = sp.ifft(q_h.mul_(self._eta_implicit[1]))
            last = (eta, rate, h)
            eta = crop(new, st.shape) if self._mirrored else new
        self._eta_pending = last
        return eta
