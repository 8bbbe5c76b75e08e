"""Speed and accuracy of 3D local thickness and pore connectivity, against PoreSpy.

Issue 6 targets: local thickness and connectivity of a 256³ volume in seconds
and of 512³ within a minute on a 2-core CPU, at least as fast and as accurate
as PoreSpy's ``local_thickness`` on the same volumes.

* Speed: a porous two-phase volume (Gaussian-filtered noise thresholded at
  60 % solid, the way PoreSpy's ``blobs`` generator makes one) at 256³ and 512³.
  Timed: local thickness of the solid (25 radius bins in both) and the
  open/closed pore split (datarial ``open_pores``; PoreSpy
  ``find_disconnected_voxels``), each the best of ``--repeat`` runs.
* Accuracy on analytic shapes with known thickness (slab, cylinder, ball;
  the local thickness of every voxel equals the shape's thickness/diameter):
  median and mean absolute error in voxels.

PoreSpy (which needs VTK) is not a datarial dependency: ``pip install porespy``
in the same environment to get the reference columns (``pip install -e .[bench-micro]``).
Run: ``python -m benchmarks.micro_speed [--sizes 256,512]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from datarial.micro.quantify import local_thickness, open_pores

RESULTS = Path(__file__).with_name("results")
BINS = 25


def porous_volume(n: int, solid: float = 0.6, blobiness: float = 1.0, seed: int = 0) -> np.ndarray:
    """Boolean (n, n, n) volume, True = solid, features about n/40 voxels across."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), sigma=n / 40 / blobiness)
    return field < np.quantile(field, solid)


def shapes(n: int = 96) -> dict[str, tuple[np.ndarray, float]]:
    """Analytic shapes and their true local thickness (voxels)."""
    z, y, x = np.mgrid[:n, :n, :n]
    c = n / 2 - 0.5
    return {
        "slab, thickness 16": ((z >= 40) & (z < 56), 16.0),
        "cylinder, diameter 30": ((y - c) ** 2 + (x - c) ** 2 <= 15**2, 30.0),
        "ball, diameter 40": ((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2 <= 20**2, 40.0),
    }


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.micro_speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512", help="cube edges in voxels")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        import porespy as ps
    except ImportError:
        ps = None
        print("PoreSpy is not installed: reference columns are empty (pip install porespy)")
    lines = ["# 3D local thickness and connectivity: datarial vs PoreSpy", "",
             f"`python -m benchmarks.micro_speed --sizes {args.sizes}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}"
             + (f", PoreSpy {ps.__version__}" if ps else ", no PoreSpy") + f"; best of {args.repeat}.", "",
             "## Speed (porous volume, 60 % solid)", "",
             "| volume | datarial local thickness [s] | PoreSpy local thickness [s] | PoreSpy / datarial "
             "| datarial connectivity [s] | PoreSpy connectivity [s] | target [s] |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for n in (int(s) for s in args.sizes.split(",")):
        im = porous_volume(n)
        ours = best_of(lambda im=im: local_thickness(im, bins=BINS), args.repeat)
        conn = best_of(lambda im=im: open_pores(~im), args.repeat)
        if ps:
            theirs = best_of(lambda im=im: ps.filters.local_thickness(im, sizes=BINS), args.repeat)
            pconn = best_of(lambda im=im: ps.filters.find_disconnected_voxels(~im), args.repeat)
        else:
            theirs = pconn = float("nan")
        target = "a few" if n <= 256 else "≤ 60"
        lines.append(f"| {n}³ | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}× | {conn:.2f} | {pconn:.2f} | {target} |")
        print(lines[-1], flush=True)
        del im
    lines += ["", "## Accuracy on analytic shapes (local thickness of the shape's voxels, in voxels)", "",
              "| shape | true | datarial median | datarial mean abs. error | PoreSpy median | PoreSpy mean abs. error |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, (mask, true) in shapes().items():
        lt = local_thickness(mask, bins=BINS)[mask]
        row = f"| {name} | {true:g} | {np.median(lt):.2f} | {np.mean(np.abs(lt - true)):.2f} |"
        if ps:
            # PoreSpy returns the sphere radius; × 2 for the diameter convention used here
            plt = 2 * ps.filters.local_thickness(mask, sizes=BINS)[mask]
            row += f" {np.median(plt):.2f} | {np.mean(np.abs(plt - true)):.2f} |"
        else:
            row += " – | – |"
        lines.append(row)
        print(row, flush=True)
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "micro_speed.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
