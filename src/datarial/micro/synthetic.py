"""Synthetic sintered microstructures with known ground truth, and FIB-SEM-like rendering.

No public FIB-SEM volume of these materials exists, so tests and examples
build their own: overlapping spherical particles (their overlaps are the
sintering necks) in a box, the space between them open porosity, plus small
closed pores inside particles; optionally a third (impurity) phase.  The
renderer imitates what a FIB-SEM series does to such a volume: phase
contrast, blur, shot noise, curtaining stripes along the milling direction,
brightness drift from slice to slice and small slice misalignments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarial.micro import artifacts

PORE, PHASE, IMPURITY = 0, 1, 2


@dataclass(frozen=True)
class SinteredVolume:
    labels: np.ndarray  # (z, y, x) uint8: 0 pore, 1 superconducting phase, 2 impurity
    centres: np.ndarray  # particle centres (n, 3), voxels
    radii: np.ndarray  # particle radii (n,), voxels


def sintered_particles(shape=(64, 64, 64), density: float = 0.7, radius: tuple[float, float] = (6.0, 10.0),
                       overlap: float = 0.5, closed_pores: int = 6, closed_radius: float = 2.0,
                       impurity_fraction: float = 0.0, seed: int = 0) -> SinteredVolume:
    """Random overlapping spheres added until the solid fraction reaches ``density``.

    ``overlap``: the largest allowed overlap of two particles as a fraction of the
    smaller radius (larger = thicker sintering necks).  Radii in voxels.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    grid = np.indices(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    target = density * labels.size
    solid, tries = 0, 0
    while solid < target and tries < 20_000:
        tries += 1
        r = rng.uniform(*radius)
        c = rng.uniform(0, 1, 3) * np.array(shape)
        if centres:
            d = np.linalg.norm(np.array(centres) - c, axis=1)
            if np.any(d < (np.array(radii) + r) - overlap * np.minimum(np.array(radii), r)):
                continue
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        d2 = sum((grid[i][box] - c[i]) ** 2 for i in range(3))
        inside = d2 <= r * r
        solid += int(np.count_nonzero(inside & (labels[box] == PORE)))
        labels[box][inside] = PHASE
        centres.append(c)
        radii.append(r)
    centres_a, radii_a = np.array(centres), np.array(radii)
    if impurity_fraction > 0:
        k = max(1, int(round(impurity_fraction * len(radii_a))))
        for i in rng.choice(len(radii_a), size=k, replace=False):
            c, r = centres_a[i], radii_a[i] * 0.6
            d2 = sum((grid[j] - c[j]) ** 2 for j in range(3))
            labels[(d2 <= r * r) & (labels == PHASE)] = IMPURITY
    # Closed pores: small voids well inside particles.
    for _ in range(closed_pores):
        i = rng.integers(len(radii_a))
        c, r = centres_a[i], radii_a[i]
        if r < 3 * closed_radius:
            continue
        p = c + rng.normal(0, 0.2 * r, 3)
        d2 = sum((grid[j] - p[j]) ** 2 for j in range(3))
        labels[d2 <= closed_radius**2] = PORE
    return SinteredVolume(labels, centres_a, radii_a)


@dataclass(frozen=True)
class FibSemSeries:
    image: np.ndarray  # (z, y, x) float32 grey levels in [0, 1]
    labels: np.ndarray  # the labels as imaged: each slice moved with its misalignment


def fib_sem_series(labels: np.ndarray, seed: int = 0, noise: float = 0.08, blur: float = 0.8,
                   curtaining: float = 0.06, drift: float = 0.04, misalignment: float = 0.5,
                   contrast: tuple[float, float, float] = (0.15, 0.75, 0.45)) -> FibSemSeries:
    """A FIB-SEM-like greyscale series of ``labels`` and the ground truth as imaged.

    contrast: grey level of pore, phase, impurity.  curtaining: amplitude of stripes
    constant along y (milling direction) varying in x; drift: slice-to-slice brightness
    change (random walk); misalignment: standard deviation of the slice shifts in
    pixels.  A slice shift moves the imaged structure, so the returned labels move
    with it (nearest neighbour): they are what a perfect segmentation of the series
    gives, before any slice registration.
    """
    rng = np.random.default_rng(seed)
    img = np.asarray(contrast, dtype=np.float32)[labels]
    img = artifacts.blur(img, blur)
    img = artifacts.curtaining(img, curtaining, rng)
    img = artifacts.drift(img, drift, rng)
    shifts = artifacts.slice_shifts(img.shape[0], misalignment, rng)
    img = artifacts.misalign(img, misalignment, rng, shifts=shifts)
    truth = artifacts.misalign(labels, misalignment, rng, shifts=shifts, order=0) if misalignment > 0 else labels
    img = artifacts.noise(img, noise, rng)
    return FibSemSeries(np.clip(img, 0, 1).astype(np.float32), truth.astype(labels.dtype))


def fib_sem_render(labels: np.ndarray, seed: int = 0, **kwargs) -> np.ndarray:
    """Greyscale float32 volume in [0, 1] that looks like a FIB-SEM series of ``labels``
    (see :func:`fib_sem_series` for the settings)."""
    return fib_sem_series(labels, seed, **kwargs).image


# ---------------------------------------------------------------- orientation maps
@dataclass(frozen=True)
class SyntheticOrientationMap:
    """A 2D orientation map with known grains (Voronoi cells) and known grain orientations."""

    grain_id: np.ndarray  # (ny, nx) true grain of every pixel
    grain_quaternions: np.ndarray  # (n, 4) orientation of each grain
    quaternions: np.ndarray  # (ny, nx, 4) measured pixel orientations (with scatter)
    indexed: np.ndarray  # (ny, nx) bool
    step: float  # m
    symmetry: str = "4/mmm"
    lattice: tuple[float, float, float] = (3.9625, 3.9625, 13.0168)  # a, b, c in Å (Ba122)
    name: str = "Ba122"


def _random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _axis_angle_quaternions(angles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotations by ``angles`` (radians) about random axes."""
    axes = rng.normal(size=(len(angles), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return np.column_stack([np.cos(angles / 2), axes * np.sin(angles / 2)[:, None]])


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def orientation_map(shape=(100, 140), n_grains: int = 40, step: float = 0.1e-6, scatter_deg: float = 0.3,
                    unindexed: float = 0.01, low_angle: float = 0.3, low_angle_range=(4.0, 15.0),
                    seed: int = 0) -> SyntheticOrientationMap:
    """Voronoi grains with random orientations; a share ``low_angle`` of the grains is instead
    tilted by 4–15° from a neighbour, so the map has low-angle boundaries as well.

    Every pixel gets its grain's orientation rotated by a random angle of spread
    ``scatter_deg`` (indexing scatter); a share ``unindexed`` of the pixels is not
    indexed.  ``step`` in m.
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    ny, nx = shape
    seeds = rng.uniform(0, 1, (n_grains, 2)) * np.array([ny, nx])
    yy, xx = np.indices(shape)
    _, gid = cKDTree(seeds).query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
    gid = gid.reshape(shape)
    quats = _random_quaternions(n_grains, rng)
    tree = cKDTree(seeds)
    for g in range(1, n_grains):
        if rng.random() < low_angle:
            _, near = tree.query(seeds[g], k=min(4, n_grains))
            parents = [int(j) for j in np.atleast_1d(near) if j < g]
            if parents:
                tilt = _axis_angle_quaternions(np.deg2rad([rng.uniform(*low_angle_range)]), rng)[0]
                quats[g] = _qmul(quats[parents[0]], tilt)
    scatter = _axis_angle_quaternions(np.deg2rad(np.abs(rng.normal(0, scatter_deg, ny * nx))), rng)
    pix = _qmul(quats[gid.ravel()], scatter).reshape(ny, nx, 4)
    indexed = rng.random(shape) >= unindexed
    return SyntheticOrientationMap(gid, quats, pix, indexed, step)


def to_crystal_map(m: SyntheticOrientationMap):
    """The map as an orix CrystalMap (scan unit µm), ready for ``orix.io.save`` (.ang, .h5)."""
    from diffpy.structure import Lattice, Structure
    from orix.crystal_map import CrystalMap, Phase, PhaseList, create_coordinate_arrays
    from orix.quaternion import Rotation

    ny, nx = m.grain_id.shape
    coords, _ = create_coordinate_arrays((ny, nx), (m.step * 1e6, m.step * 1e6))
    a, b, c = m.lattice
    phase = Phase(m.name, point_group=m.symmetry, structure=Structure(lattice=Lattice(a, b, c, 90, 90, 90)))
    return CrystalMap(Rotation(m.quaternions.reshape(-1, 4)), phase_id=np.where(m.indexed.ravel(), 0, -1),
                      phase_list=PhaseList(phase), scan_unit="um", **coords)


def write_ctf(m: SyntheticOrientationMap, path) -> None:
    """Write the map as an Oxford Channel Text File (.ctf; Euler angles in degrees, steps in µm)."""
    from orix.quaternion import Rotation

    ny, nx = m.grain_id.shape
    st = m.step * 1e6
    euler = np.rad2deg(Rotation(m.quaternions.reshape(-1, 4)).to_euler()) % 360
    yy, xx = np.indices((ny, nx))
    a, b, c = m.lattice
    header = ["Channel Text File", "Prj\tsynthetic", "Author\tdatarial", "JobMode\tGrid", f"XCells\t{nx}",
              f"YCells\t{ny}", f"XStep\t{st:.6f}", f"YStep\t{st:.6f}", "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
              "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t1000\tCoverage\t100\tDevice\t0\tKV\t20"
              "\tTiltAngle\t70\tTiltAxis\t0", "Phases\t1", f"{a:.4f};{b:.4f};{c:.4f}\t90;90;90\t{m.name}\t5\t139",
              "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    ok = m.indexed.ravel()
    rows = np.column_stack([ok.astype(int), xx.ravel() * st, yy.ravel() * st, np.where(ok, 8, 0), np.where(ok, 0, 3),
                            euler, np.where(ok, 0.5, 0), np.full(ok.size, 120), np.full(ok.size, 100)])
    with open(path, "w") as fh:
        fh.write("\n".join(header) + "\n")
        np.savetxt(fh, rows, fmt=["%d", "%.4f", "%.4f", "%d", "%d", "%.4f", "%.4f", "%.4f", "%.4f", "%d", "%d"],
                   delimiter="\t")
