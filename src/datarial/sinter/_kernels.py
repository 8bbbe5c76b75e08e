"""Numba kernels for the local terms of the spectral step (CPU).

The torch version of the reaction (:meth:`datarial.sinter.solver.Simulation._react`)
makes about thirty passes over all fields per sub-step; :func:`react` works on
blocks of voxels that stay in cache for all sub-steps, so it reads and writes
each value once.  Same arithmetic: every field of a voxel is updated from the
sums Σηⱼ² of the start of the sub-step (Jacobi), by exponential Euler (and, for
``order=2``, the ETD2RK corrector).

Its φ-functions are computed by :func:`phis`, branch-free multiply–adds that
LLVM turns into SIMD code.  libm's
``expm1`` is a scalar call (numba on PyPI's llvmlite has no SVML), which kept
the earlier kernel to one voxel at a time; ``python -m benchmarks.sinter_kernels``
times the two against each other.

:func:`density_terms` gives ∂f/∂ρ and the mobility M in one pass (the torch
path takes about thirty passes for them); :func:`eta_sbdf2` the explicit part and right-hand side of the
stabilised SBDF2 step of the grain fields (``eta_scheme="sbdf2"``);
:func:`nearest_owner` and :func:`owner_sums` the owner maps and the grains' volumes and centres
(:func:`datarial.sinter.state.update_owners`; torch needs a dozen full-grid temporaries and a Python loop
over the grains for them).

The inner loops run over one-dimensional views (``eta[f, lo:hi]``, ``e[f]``): indexed as ``eta[f, lo + i]``
instead, LLVM left the loops scalar (``benchmarks.sinter_kernels`` times :func:`eta_sbdf2` and
:func:`density_terms` against such versions of themselves; :func:`react`, mostly arithmetic, gained less).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

BLOCK = 2048  # voxels per parallel work item; its scratch is 5 arrays of fields × BLOCK doubles (160 KB for 2 fields)

# φ₁(z) = (eᶻ − 1)/z and φ₂(z) = (eᶻ − 1 − z)/z² by scaling and doubling: the series at y = z/2ᵏ, then k times
#   φ₁(2y) = φ₁(y)(E + 1)/2,  φ₂(2y) = (φ₂(y)(E + 1) + φ₁(y))/4,  E = e^y = 1 + yφ₁(y),
# exact identities without cancellation near z = 0.  |y| ≤ 80/256 keeps the series' truncation below 2e-16;
# against 80-digit values the result is within 1.8e-14 (relative) for z in [−1000, 80] and 9e-16 for |z| < 1
# (tests/test_sinter.py).
DOUBLINGS = 8
Z_MAX = 80.0  # beyond: φ from the asymptote (z < −80, where e^z < 2e-35), or held at z = 80 (a blow-up anyway)
TERMS = 11
_C1 = np.array([1.0 / (k + 1) for k in range(TERMS, 0, -1)])  # Horner factors of Σ yᵏ/(k+1)!
_C2 = np.array([1.0 / (k + 2) for k in range(TERMS, 0, -1)])  # of Σ yᵏ/(k+2)!, times ½ at the end


@njit(inline="always", fastmath={"contract"}, cache=True)
def phis(z):  # pragma: no cover - compiled
    """(φ₁(z), φ₂(z)) of the exponential integrators, for any float z (see the module notes)."""
    y = min(max(z, -Z_MAX), Z_MAX) * (1.0 / 2.0**DOUBLINGS)
    p1 = 1.0
    p2 = 1.0
    for k in range(TERMS):
        p1 = 1.0 + p1 * (y * _C1[k])
        p2 = 1.0 + p2 * (y * _C2[k])
    p2 = 0.5 * p2
    for _ in range(DOUBLINGS):
        e1 = 2.0 + y * p1  # E + 1
        p2 = 0.25 * (p2 * e1 + p1)
        p1 = 0.5 * p1 * e1
        y = 2.0 * y
    far = z < -Z_MAX
    p1 = -1.0 / z if far else p1
    p2 = -(1.0 + z) / (z * z) if far else p2
    return p1, p2


@njit(inline="always", cache=True)
def _rate(v, r, s2, c):  # pragma: no cover - compiled
    """−L ∂f/∂ηᵢ of one field value v at density r, with s2 = Σηⱼ² and c = 12 L B."""
    return -c * ((1.0 - r) * v - (2.0 - r) * v * v + v * s2)


@njit(inline="always", cache=True)
def _dfdrho(r, s2, s3, A, B):  # pragma: no cover - compiled
    """∂f/∂ρ (:func:`datarial.sinter.model.df_drho`) at density r with s2 = Σηᵢ², s3 = Σηᵢ³."""
    return 2.0 * A * r * (1.0 - r) * (1.0 - 2.0 * r) + B * (2.0 * r - 6.0 * s2 + 4.0 * s3)


@njit(inline="always", cache=True)
def _mobility(r, s1, s2, M_vol, M_vap, M_surf, M_gb):  # pragma: no cover - compiled
    """M (:func:`datarial.sinter.model.mobility`) at density r with s1 = Σηᵢ, s2 = Σηᵢ²."""
    c = min(max(r, 0.0), 1.0)
    h = c * c * c * (10.0 - 15.0 * c + 6.0 * c * c)
    q = c * (1.0 - c)
    return M_vol * h + M_vap * (1.0 - h) + M_surf * q * q + M_gb * (s1 * s1 - s2)


@njit(inline="always", cache=True)
def _sums(eta, lo, hi, s1, s2, s3):  # pragma: no cover - compiled
    """Σηᵢ, Σηᵢ², Σηᵢ³ over the fields (axis 0 of ``eta``, 2D) at positions lo … hi − 1, into s1, s2, s3."""
    w = hi - lo
    for i in range(w):
        s1[i] = 0.0
        s2[i] = 0.0
        s3[i] = 0.0
    for f in range(eta.shape[0]):
        ef = eta[f, lo:hi]
        for i in range(w):
            v = np.float64(ef[i])
            s1[i] += v
            s2[i] += v * v
            s3[i] += v * v * v


@njit(inline="always", cache=True)
def _sum_squares(e, s2, w):  # pragma: no cover - compiled
    for i in range(w):
        s2[i] = 0.0
    for f in range(e.shape[0]):
        ef = e[f]
        for i in range(w):
            s2[i] += ef[i] * ef[i]


@njit(parallel=True, fastmath={"contract"}, cache=True)
def react(rho, eta, out, L, B, dh, m, second):  # pragma: no cover - compiled
    """``m`` sub-steps of dη/dt = −L ∂f/∂η of length ``dh``; rho (N,), eta and out (F, N).

    Exponential Euler on the diagonal stiffness a (z = dh a); with ``second``
    the ETD2RK corrector dh φ₂(z)(R(η*) − R − a(η* − η)) on top (second order).
    """
    nf, n = eta.shape
    c = 12.0 * L * B
    blocks = (n + BLOCK - 1) // BLOCK
    for b in prange(blocks):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        w = hi - lo
        e = np.empty((nf, w), dtype=np.float64)  # rates and z in double, whatever the fields' dtype
        pred = np.empty((nf, w), dtype=np.float64)
        r0 = np.empty((nf, w), dtype=np.float64)
        zs = np.empty((nf, w), dtype=np.float64)
        p2s = np.empty((nf, w), dtype=np.float64)
        s2 = np.empty(w, dtype=np.float64)
        r = np.empty(w, dtype=np.float64)
        rr = rho[lo:hi]
        for i in range(w):
            r[i] = rr[i]
        for f in range(nf):
            src, ef = eta[f, lo:hi], e[f]
            for i in range(w):
                ef[i] = src[i]
        for _ in range(m):
            _sum_squares(e, s2, w)
            for f in range(nf):
                ef, pf, r0f, zf, p2f = e[f], pred[f], r0[f], zs[f], p2s[f]
                for i in range(w):
                    v = ef[i]
                    rate = _rate(v, r[i], s2[i], c)
                    z = -dh * c * ((1.0 - r[i]) - 2.0 * (2.0 - r[i]) * v + s2[i] + 2.0 * v * v)
                    # Two arms, each vectorised: order 1 stores nothing for the corrector, and LLVM drops φ₂'s
                    # arithmetic there (φ₂ computed before the branch and stored in one arm made the loop scalar: about 30× slower)
                    if second:
                        p1, p2 = phis(z)
                        r0f[i] = rate
                        zf[i] = z
                        p2f[i] = p2
                    else:
                        p1, _ = phis(z)
                    pf[i] = v + dh * p1 * rate
            if second:
                _sum_squares(pred, s2, w)
                for f in range(nf):
                    ef, pf, r0f, zf, p2f = e[f], pred[f], r0[f], zs[f], p2s[f]
                    for i in range(w):
                        v = pf[i]
                        r1 = _rate(v, r[i], s2[i], c)
                        pf[i] = v + dh * p2f[i] * (r1 - r0f[i] - (zf[i] / dh) * (v - ef[i]))
            for f in range(nf):
                ef, pf = e[f], pred[f]
                for i in range(w):
                    ef[i] = pf[i]
        for f in range(nf):
            dst, ef = out[f, lo:hi], e[f]
            for i in range(w):
                dst[i] = ef[i]


@njit(parallel=True, cache=True)
def density_terms(rho, eta, A, B, M_vol, M_vap, M_surf, M_gb, dfdrho, mob):  # pragma: no cover - compiled
    """∂f/∂ρ and the mobility M (:func:`datarial.sinter.model.df_drho`, ``mobility``) into ``dfdrho``, ``mob``.

    rho, dfdrho, mob (N,); eta (F, N).  One pass: Σηᵢ, Σηᵢ², Σηᵢ³ per block, then the local terms.
    """
    n = eta.shape[1]
    blocks = (n + BLOCK - 1) // BLOCK
    for b in prange(blocks):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        w = hi - lo
        s1 = np.empty(w, dtype=np.float64)
        s2 = np.empty(w, dtype=np.float64)
        s3 = np.empty(w, dtype=np.float64)
        _sums(eta, lo, hi, s1, s2, s3)
        rr, dd, mm = rho[lo:hi], dfdrho[lo:hi], mob[lo:hi]
        for i in range(w):
            r = np.float64(rr[i])
            dd[i] = _dfdrho(r, s2[i], s3[i], A, B)
            mm[i] = _mobility(r, s1[i], s2[i], M_vol, M_vap, M_surf, M_gb)


@njit(parallel=True, cache=True)
def eta_sbdf2(rho, eta, eta_prev, rate_prev, L, B, S, a0, a1, b0, b1, rate, q):  # pragma: no cover - compiled
    """The explicit part of the stabilised η step, R = −L ∂f/∂ηᵢ + L S ηᵢ, into ``rate``, and the right-hand
    side q = a0 η + a1 η_prev + b0 R + b1 R_prev into ``q``; rho (N,), the rest (F, N)."""
    nf, n = eta.shape
    c = 12.0 * L * B
    ls = L * S
    blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(blocks):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        w = hi - lo
        s2 = np.zeros(w, dtype=np.float64)
        for f in range(nf):
            ef = eta[f, lo:hi]
            for i in range(w):
                v = np.float64(ef[i])
                s2[i] += v * v
        rr = rho[lo:hi]
        for f in range(nf):
            ef, ep, rp, ro, qo = eta[f, lo:hi], eta_prev[f, lo:hi], rate_prev[f, lo:hi], rate[f, lo:hi], q[f, lo:hi]
            for i in range(w):
                v = np.float64(ef[i])
                r = _rate(v, np.float64(rr[i]), s2[i], c) + ls * v
                ro[i] = r
                qo[i] = a0 * v + a1 * ep[i] + b0 * r + b1 * rp[i]


# ----------------------------------------------------------------------------- explicit finite-difference step
ROWS = 16  # grid rows (along the last axis) per parallel work item of :func:`explicit_step`


@njit(inline="always", cache=True)
def _neighbours(i, n, periodic):  # pragma: no cover - compiled
    """The indices above and below i on an axis of n cells: wrapped, or the edge cell itself (zero flux)."""
    if periodic:
        return (i + 1 if i + 1 < n else 0), (i - 1 if i > 0 else n - 1)
    return (i + 1 if i + 1 < n else n - 1), (i - 1 if i > 0 else 0)


@njit(inline="always", cache=True)
def _row(row, n0, n1, periodic):  # pragma: no cover - compiled
    """A grid row's indices (i0, i1) on the two leading axes and their neighbours (above, below) on each."""
    i0, i1 = row // n1, row % n1
    a0, b0 = _neighbours(i0, n0, periodic)
    a1, b1 = _neighbours(i1, n1, periodic)
    return i0, i1, a0, b0, a1, b1


@njit(inline="always", cache=True)
def _laplacian_row(c, u1, d1, u0, d0, three, periodic, out):  # pragma: no cover - compiled
    """The second-order Laplacian along one grid row ``c``: ``u1``, ``d1`` the rows above and below on the
    second-last axis, ``u0``, ``d0`` on the third-last (used where ``three``); the row's own axis here."""
    n = c.shape[0]
    for i in range(n):
        out[i] = u1[i] + d1[i] - 2.0 * c[i]
    if three:
        for i in range(n):
            out[i] += u0[i] + d0[i] - 2.0 * c[i]
    for i in range(1, n - 1):
        out[i] += c[i + 1] + c[i - 1] - 2.0 * c[i]
    if n > 1:
        out[0] += c[1] + (c[n - 1] if periodic else c[0]) - 2.0 * c[0]
        out[n - 1] += (c[0] if periodic else c[n - 1]) + c[n - 2] - 2.0 * c[n - 1]


@njit(inline="always", cache=True)
def _face_fluxes(m, w, mu_, wu, out):  # pragma: no cover - compiled
    """out += the flux ½(M + M')(μ' − μ) from the neighbouring row (``mu_`` its M, ``wu`` its μ) into each cell."""
    for i in range(m.shape[0]):
        out[i] += 0.5 * (m[i] + mu_[i]) * (wu[i] - w[i])


@njit(parallel=True, cache=True)
def explicit_step(rho, eta, A, B, L, kappa_rho, kappa_eta, M_vol, M_vap, M_surf, M_gb, dt, periodic,
                  mu, mob, rho_out, eta_out):  # pragma: no cover - compiled
    """One forward-Euler step of the explicit finite-difference reference for the plain model (no anisotropy,
    tensorial mobility, rigid-body motion or pair factors): the arithmetic of
    :meth:`datarial.sinter.solver.Simulation._rates_explicit` in two passes over the grid instead of the
    many passes, each with its temporaries, of the torch operations.

    rho, mu, mob, rho_out (n0, n1, n2); eta, eta_out (F, n0, n1, n2); a 2D grid as n0 = 1.  ``periodic``: wrap,
    else zero flux (the ghost cell repeats the edge cell).  First μ = ∂f/∂ρ − κ_ρ∇²ρ into ``mu`` and M into
    ``mob``, then ρ + Δt Σ ½(Mᵢ + Mⱼ)(μⱼ − μᵢ) over the faces and η + Δt(−L ∂f/∂η + L κ_η ∇²η).  Rows of the
    last axis in parallel, ``ROWS`` at a time.
    """
    n0, n1, n2 = rho.shape
    nf = eta.shape[0]
    three = n0 > 1
    rows = n0 * n1
    chunks = (rows + ROWS - 1) // ROWS
    for k in prange(chunks):
        lap = np.empty(n2, dtype=np.float64)
        s1 = np.empty(n2, dtype=np.float64)
        s2 = np.empty(n2, dtype=np.float64)
        s3 = np.empty(n2, dtype=np.float64)
        for row in range(k * ROWS, min(rows, (k + 1) * ROWS)):
            i0, i1, a0, b0, a1, b1 = _row(row, n0, n1, periodic)
            _laplacian_row(rho[i0, i1], rho[i0, a1], rho[i0, b1], rho[a0, i1], rho[b0, i1], three, periodic, lap)
            _sums(eta[:, i0, i1], 0, n2, s1, s2, s3)
            rr, wr, mr = rho[i0, i1], mu[i0, i1], mob[i0, i1]
            for i in range(n2):
                r = np.float64(rr[i])
                wr[i] = _dfdrho(r, s2[i], s3[i], A, B) - kappa_rho * lap[i]
                mr[i] = _mobility(r, s1[i], s2[i], M_vol, M_vap, M_surf, M_gb)
    cr = 12.0 * L * B
    for k in prange(chunks):
        div = np.empty(n2, dtype=np.float64)
        lap = np.empty(n2, dtype=np.float64)
        s2 = np.empty(n2, dtype=np.float64)
        for row in range(k * ROWS, min(rows, (k + 1) * ROWS)):
            i0, i1, a0, b0, a1, b1 = _row(row, n0, n1, periodic)
            m, w = mob[i0, i1], mu[i0, i1]
            for i in range(n2):
                div[i] = 0.0
            _face_fluxes(m, w, mob[i0, a1], mu[i0, a1], div)
            _face_fluxes(m, w, mob[i0, b1], mu[i0, b1], div)
            if three:
                _face_fluxes(m, w, mob[a0, i1], mu[a0, i1], div)
                _face_fluxes(m, w, mob[b0, i1], mu[b0, i1], div)
            for i in range(1, n2 - 1):  # along the row: the interior, then the two ends
                div[i] += 0.5 * (m[i] + m[i + 1]) * (w[i + 1] - w[i]) + 0.5 * (m[i] + m[i - 1]) * (w[i - 1] - w[i])
            for i in (0, n2 - 1):
                up, dn = _neighbours(i, n2, periodic)
                div[i] += 0.5 * (m[i] + m[up]) * (w[up] - w[i]) + 0.5 * (m[i] + m[dn]) * (w[dn] - w[i])
            rr, ro = rho[i0, i1], rho_out[i0, i1]
            for i in range(n2):
                ro[i] = rr[i] + dt * div[i]
            for i in range(n2):
                s2[i] = 0.0
            for f in range(nf):
                e = eta[f, i0, i1]
                for i in range(n2):
                    v = np.float64(e[i])
                    s2[i] += v * v
            for f in range(nf):
                e = eta[f, i0, i1]
                _laplacian_row(e, eta[f, i0, a1], eta[f, i0, b1], eta[f, a0, i1], eta[f, b0, i1], three, periodic,
                               lap)
                eo = eta_out[f, i0, i1]
                for i in range(n2):
                    v = np.float64(e[i])
                    r = np.float64(rr[i])
                    eo[i] = v + dt * (-cr * ((1.0 - r) * v - (2.0 - r) * v * v + v * s2[i]) + L * kappa_eta * lap[i])


# ----------------------------------------------------------------------------- owner maps, volumes, centres
@njit(parallel=True, cache=True)
def nearest_owner(shape, centres, reach, order, starts, periodic, owner):  # pragma: no cover - compiled
    """Owner maps (:func:`datarial.sinter.state.update_owners`): in each field the nearest centre among its grains.

    shape (3,) int64: the grid, a 2D grid as (1, ny, nx); centres (n, 3) float64 in cells (0 on a dummy axis);
    reach (n,): each grain's box half-width; ``order[starts[f]:starts[f + 1]]`` the grains of field f in the
    order they are tried (a later grain wins only where strictly closer); owner (F, N) int32, written whole
    (−1 outside every box).  Fields in parallel; within a field, each grain's box
    [⌊c − reach⌋, ⌈c + reach⌉] per axis, wrapped on a periodic grid (the whole axis where the box spans it) and
    clipped otherwise; distances by the minimum image on a periodic grid.
    """
    nf = owner.shape[0]
    n0, n1, n2 = shape[0], shape[1], shape[2]
    plane = n1 * n2
    for f in prange(nf):
        a, b = starts[f], starts[f + 1]
        if b - a == 0:
            owner[f, :] = -1
            continue
        if b - a == 1:
            owner[f, :] = order[a]
            continue
        owner[f, :] = -1
        best = np.full(owner.shape[1], np.inf)
        lo = np.empty(3, dtype=np.int64)
        hi = np.empty(3, dtype=np.int64)
        for m in range(a, b):
            g = order[m]
            for ax in range(3):
                n = shape[ax]
                c = centres[g, ax]
                lo[ax] = math.floor(c - reach[g])
                hi[ax] = math.ceil(c + reach[g]) + 1
                if periodic and hi[ax] - lo[ax] >= n:
                    lo[ax] = 0
                    hi[ax] = n
                elif not periodic:
                    lo[ax] = max(lo[ax], 0)
                    hi[ax] = min(hi[ax], n)
            c0, c1, c2 = centres[g, 0], centres[g, 1], centres[g, 2]
            for i0 in range(lo[0], hi[0]):
                j0 = i0 % n0
                d0 = j0 - c0
                if periodic:
                    d0 -= n0 * np.round(d0 / n0)
                for i1 in range(lo[1], hi[1]):
                    j1 = i1 % n1
                    d1 = j1 - c1
                    if periodic:
                        d1 -= n1 * np.round(d1 / n1)
                    q = d0 * d0 + d1 * d1
                    base = j0 * plane + j1 * n2
                    for i2 in range(lo[2], hi[2]):
                        j2 = i2 % n2
                        d2 = j2 - c2
                        if periodic:
                            d2 -= n2 * np.round(d2 / n2)
                        v = base + j2
                        dist = q + d2 * d2
                        if dist < best[v]:
                            best[v] = dist
                            owner[f, v] = g


@njit(parallel=True, cache=True)
def owner_sums(owner, eta, shape, tables, offsets, chunks, out):  # pragma: no cover - compiled
    """Per grain: Σ η and, per axis a, Σ η·tables[offsets[a] + i_a] for the table columns t (see below).

    owner, eta (F, N); shape (3,) as in :func:`nearest_owner`; tables (T, L): per axis a its values at each index
    (cos and sin of 2πi/n on a periodic grid, i itself otherwise), the columns of axis a at
    ``offsets[a] … offsets[a] + shape[a] − 1``; out (chunks, n, 1 + T·3) float64, zeroed here: column 0 the volume,
    column 1 + 3t + a the sum for table t on axis a.  The voxels in ``chunks`` parallel slices, each summing into
    its own row of ``out`` (the caller adds them).
    """
    nf, nv = owner.shape
    nt = tables.shape[0]
    out[:] = 0.0
    n1, n2 = shape[1], shape[2]
    plane = n1 * n2
    size = (nv + chunks - 1) // chunks
    for k in prange(chunks):
        acc = out[k]
        for f in range(nf):
            for v in range(k * size, min(nv, (k + 1) * size)):
                g = owner[f, v]
                if g < 0:
                    continue
                w = np.float64(eta[f, v])
                acc[g, 0] += w
                i0 = v // plane
                i1 = (v // n2) % n1
                i2 = v % n2
                for t in range(nt):
                    acc[g, 1 + 3 * t] += w * tables[t, offsets[0] + i0]
                    acc[g, 2 + 3 * t] += w * tables[t, offsets[1] + i1]
                    acc[g, 3 + 3 * t] += w * tables[t, offsets[2] + i2]
