"""Numba kernels for local thickness by sphere insertion with caps.

The binned local thickness (see :func:`datarial.micro.quantify.local_thickness`)
gives voxel p the largest bin radius r_k for which some centre c with
dt(c) ≥ r_k has |p − c| ≤ r_k.  Painting every centre's ball costs Σ r³ per
voxel; here a centre c in bin k paints only the part of its ball that a
neighbour's ball does not already cover:

* a neighbour c' = c + e in a larger bin j < k has its ball of radius r_j
  painted (by induction over bins), so c paints ball(c, r_k) \\ ball(c', r_j):
  a thin crescent, often empty;
* a neighbour in the same bin with a larger distance (ties broken by index,
  so the chains end) covers ball(c', r_k), so c paints a one-voxel crescent;
* only local maxima paint a whole ball.

Every set painted is exactly what the ball-by-ball union would paint, so the
result equals the dilation-per-bin definition voxel for voxel; the work drops
from Σ r³ to about Σ r² over the few ridge voxels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

NDELTA = 4  # caps against neighbours 0..3 bins larger (3 = "3 or more")
DIRS = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)],
                dtype=np.int64)
DIRS = DIRS[np.argsort(np.abs(DIRS).sum(axis=1), kind="stable")]  # faces first, then edges, then corners
NONE = -1  # nothing to paint


@njit(parallel=True, cache=True)
def bin_index(dt, radii, eps, out):  # pragma: no cover - compiled
    """Smallest k with dt ≥ radii[k] − eps (radii descending); −1 below the last radius."""
    nz, ny, nx = dt.shape
    nb = radii.shape[0]
    h = (radii[0] - radii[nb - 1]) / (nb - 1) if nb > 1 else 1.0
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                d = dt[z, y, x]
                if not d >= radii[nb - 1] - eps:
                    out[z, y, x] = -1
                    continue
                k = 0
                if d < radii[0] and h > 0:
                    k = min(nb - 1, max(0, int(np.ceil((radii[0] - d) / h))))
                while k > 0 and d >= radii[k - 1] - eps:
                    k -= 1
                while d < radii[k] - eps:
                    k += 1
                out[z, y, x] = k
    return out


@njit(parallel=True, cache=True)
def classify(b, dt, dirs, size, how):  # pragma: no cover - compiled
    """For each voxel, the neighbour whose painted ball leaves the smallest part of its own ball.

    ``how`` = dir · NDELTA + bins-larger, ``len(dirs) · NDELTA`` for a whole
    ball, NONE when nothing is left to paint.
    """
    nz, ny, nx = b.shape
    nd = dirs.shape[0]
    nde = size.shape[2]
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                k = b[z, y, x]
                if k < 0:
                    how[z, y, x] = NONE
                    continue
                d = dt[z, y, x]
                best = nd * nde
                smallest = size[k, nd, 0]
                for a in range(nd):
                    zz = np.int64(z) + dirs[a, 0]
                    yy = np.int64(y) + dirs[a, 1]
                    xx = np.int64(x) + dirs[a, 2]
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                        continue
                    k2 = b[zz, yy, xx]
                    if k2 < 0 or k2 > k:
                        continue
                    delta = k - k2
                    if delta == 0:
                        d2 = dt[zz, yy, xx]
                        if d2 < d:
                            continue
                        if d2 == d and (dirs[a, 0] > 0 or (dirs[a, 0] == 0 and (
                                dirs[a, 1] > 0 or (dirs[a, 1] == 0 and dirs[a, 2] > 0)))):
                            continue  # equal distances: only towards the smaller flat index
                    if delta > nde - 1:
                        delta = nde - 1
                    s = size[k, a, delta]
                    if s < smallest:
                        smallest = s
                        best = a * nde + delta
                        if s == 0:
                            break
                how[z, y, x] = NONE if smallest == 0 else best
    return how


@njit(parallel=True, cache=True)
def group_by_bin(b, how, nb):  # pragma: no cover - compiled
    """Flat indices of the voxels that paint something, grouped by bin; and the group bounds."""
    nz, ny, nx = b.shape
    counts = np.zeros((nz, nb), np.int64)
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                k = b[z, y, x]
                if k >= 0 and how[z, y, x] != NONE:
                    counts[z, k] += 1
    start = np.empty((nz, nb), np.int64)
    total = 0
    bounds = np.empty(nb + 1, np.int64)
    for k in range(nb):
        bounds[k] = total
        for z in range(nz):
            start[z, k] = total
            total += counts[z, k]
    bounds[nb] = total
    idx = np.empty(total, np.int64)
    for z in prange(nz):
        pos = start[z].copy()
        for y in range(ny):
            for x in range(nx):
                k = b[z, y, x]
                if k >= 0 and how[z, y, x] != NONE:
                    idx[pos[k]] = (z * ny + y) * nx + x
                    pos[k] += 1
    return idx, bounds


@njit(parallel=True, cache=True)
def paint(out, mask, idx, how, offsets, starts, value):  # pragma: no cover - compiled
    """Write ``value`` into unpainted mask voxels of each listed voxel's offset set."""
    nz, ny, nx = out.shape
    hflat = how.ravel()
    for i in prange(idx.shape[0]):
        f = idx[i]
        h = hflat[f]
        z = f // (ny * nx)
        rem = f - z * ny * nx
        y = rem // nx
        x = rem - y * nx
        for m in range(starts[h], starts[h + 1]):
            zz = z + offsets[m, 0]
            if zz < 0 or zz >= nz:
                continue
            yy = y + offsets[m, 1]
            if yy < 0 or yy >= ny:
                continue
            xx = x + offsets[m, 2]
            if xx < 0 or xx >= nx:
                continue
            if mask[zz, yy, xx] and out[zz, yy, xx] == 0:
                out[zz, yy, xx] = value


def offset_sets(radii: np.ndarray, k: int, voxel: np.ndarray, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the ball of radius radii[k] and of its crescents against each neighbour's ball.

    Set ``a · NDELTA + δ`` holds the offsets o with |o| ≤ r_k but |o − e_a| > r_{k−δ}
    (lengths in the units of ``voxel``); the last set is the whole ball.  A
    point at the radius counts as inside (relative tolerance ``rtol``, as the
    single-precision distance transform rounds such ties either way).
    Returns the concatenated offsets and the start of each set.
    """
    r = float(radii[k])
    ext = [int(np.floor(r / v + 1e-9)) for v in voxel]
    grid = np.mgrid[-ext[0]:ext[0] + 1, -ext[1]:ext[1] + 1, -ext[2]:ext[2] + 1].reshape(3, -1).T
    w = grid * voxel
    n2 = (w**2).sum(axis=1)
    inside = n2 <= r * r * (1.0 + rtol)
    ball, w, n2 = grid[inside], w[inside], n2[inside]
    e = DIRS * voxel
    far = n2[:, None] - 2.0 * (w @ e.T) + (e**2).sum(axis=1)[None, :]  # |o − e|² per offset and direction
    reach = np.array([radii[max(k - d, 0)] for d in range(NDELTA)]) ** 2 * (1.0 + rtol)
    parts = [ball[far[:, a] > reach[d]] for a in range(len(DIRS)) for d in range(NDELTA)]
    parts.append(ball)
    starts = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(parts).astype(np.int64)), starts
