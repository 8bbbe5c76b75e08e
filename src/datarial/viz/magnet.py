"""Static figures of magnet measurements (matplotlib, written as PNG/SVG); units on every axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datarial.errors import DataFileError
from datarial.magnet.bean import JcCurve
from datarial.magnet.creep import MRI_STABILITY_PPM_PER_H, CreepResult
from datarial.magnet.tc import TcResult
from datarial.magnet.trapped import TrappedField


def _figure(ncols: int = 1, width: float = 5.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width * ncols, 3.8), constrained_layout=True)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        fig.savefig(path, dpi=150)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot write the figure ({exc})") from None
    finally:
        plt.close(fig)
    return path


def plot_jc(curve: JcCurve, path: str | Path, marks: dict[float, float] | None = None, title: str = "") -> Path:
    """M–H loop with its branches (left) and Jc(B) on a log axis (right)."""
    fig, (ax1, ax2) = _figure(2)
    down, up = curve.branches
    ax1.plot(down.field, down.magnetization / 1e3, label="decreasing field")
    ax1.plot(up.field, up.magnetization / 1e3, label="increasing field")
    ax1.set_xlabel("μ0H [T]")
    ax1.set_ylabel("M [emu/cm³]")
    ax1.legend(frameon=False)
    ax1.set_title("magnetization loop" + (" (virgin branch ignored)" if curve.virgin_ignored else ""))
    ax2.semilogy(curve.field, curve.jc_A_per_cm2, color="k")
    for b, jc in (marks or {}).items():
        ax2.plot([b], [jc / 1e4], "o", color="C3")
        ax2.annotate(f"{jc / 1e4:.3g} A/cm² at {b:g} T", (b, jc / 1e4), textcoords="offset points", xytext=(5, 5))
    ax2.set_xlabel("μ0H [T]")
    ax2.set_ylabel("Jc [A/cm²]")
    ax2.set_title(title or f"extended Bean model, {curve.sample.describe()}", fontsize=9)
    return _save(fig, path)


def plot_tc(result: TcResult, path: str | Path) -> Path:
    fig, ax = _figure()
    ax.plot(result.temperature, result.shielded_fraction, ".-", ms=3)
    for t, label in ((result.t_onset, "onset"), (result.t_c10, "10 %"), (result.t_c90, "90 %")):
        ax.axvline(t, ls="--", lw=0.8, color="grey")
        ax.annotate(f"{label} {t:.2f} K", (t, 0.5), rotation=90, fontsize=8)
    ax.set_xlabel("T [K]")
    ax.set_ylabel("shielded fraction [-]")
    ax.set_title(f"Tc90 = {result.t_c90:.2f} K, width {result.width:.2f} K")
    return _save(fig, path)


def plot_creep(result: CreepResult, path: str | Path, unit: str, at: float | None = None) -> Path:
    fig, ax = _figure()
    ax.semilogx(result.time / 3600.0, result.value, ".", ms=3, label="measured")
    t = np.geomspace(result.time.min(), max(result.time.max(), at or 0.0), 200)
    ax.semilogx(t / 3600.0, result.value_at(t), "-", label=f"fit, S = {result.s:.2e}")
    if at is not None:
        ax.axvline(at / 3600.0, ls="--", color="grey")
        ax.annotate(f"{result.decay_ppm_per_hour(at):.3g} ppm/h (MRI: {MRI_STABILITY_PPM_PER_H} ppm/h)",
                    (at / 3600.0, result.value_at(at)), fontsize=8)
    ax.set_xlabel("t [h]")
    ax.set_ylabel(f"value [{unit}]")
    ax.legend(frameon=False)
    return _save(fig, path)


def plot_trapped(sol: TrappedField, path: str | Path) -> Path:
    fig, (ax1, ax2) = _figure(2)
    ax1.plot(sol.z * 1e3, sol.bz, color="k")
    for d in sol.disks:
        ax1.axvspan(d.z0 * 1e3, d.z1 * 1e3, color="C0", alpha=0.15)
    for name, z in sol.key_points().items():
        b = float(sol.at(z)[0])
        ax1.plot([z * 1e3], [b], "o", color="C3")
        ax1.annotate(f"{name}: {b:.3f} T", (z * 1e3, b), fontsize=8, textcoords="offset points", xytext=(4, 4))
    ax1.set_xlabel("z on the axis [mm]")
    ax1.set_ylabel("B_z [T]")
    ax1.set_title("trapped field on the axis")
    sc = ax2.scatter(sol.ring_r * 1e3, sol.ring_z * 1e3, c=sol.ring_j / 1e4, s=12, cmap="viridis")
    fig.colorbar(sc, ax=ax2, label="J [A/cm²]")
    ax2.set_xlabel("r [mm]")
    ax2.set_ylabel("z [mm]")
    ax2.set_title("current density in the disks")
    return _save(fig, path)
