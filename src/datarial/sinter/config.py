"""Run configuration of ``datarial sinter run`` (YAML), validated with messages that name the field.

Example::

    grid: [64, 128]            # cells, (y, x) or (z, y, x)
    start: {kind: two-particles, radius: 20, overlap: 2}
    model: {M_surf: 4.0, M_gb: 0.4, L: 10}          # reduced parameters (datarial.sinter.model.Parameters)
    solver: {method: spectral, boundary: periodic, dtype: float32, device: auto}
    time: 200                  # reduced time units
    snapshots: 10
    anisotropy: [1.2, 0.3, 0.15, -0.2]   # optional k0…k3 of γ(n) in each grain's frame
    read_shockley: {theta_max: 15 deg, symmetry: m-3m}   # optional misorientation-dependent γ_gb

``start.kind``: two-particles (radius, overlap, neck: the half-width of a
filled Kuczynski neck, cells), random (n, radius, spread,
overlap, seed), close-packed (radius, overlap) or labels (file: a labelled
TIFF/NumPy image, 0 = pore).  ``solver`` takes the fields of
:class:`datarial.sinter.state.SolverSettings`; ``order: 2`` steps the density
by stabilised SBDF2 and the grain fields' local reaction by ETD2RK, second
order in Δt (the default 1: stabilised Euler and exponential Euler);
the grain fields step by stabilised SBDF2 (``eta_scheme: sbdf2``, the
default), which keeps the grain boundaries' diffusion layer at any Δt but
slows moving boundaries by an O(Δt²) term (2 % at Δt 0.025, 9 % at 0.05),
in sub-steps of at most 0.25/(L B) (0.025 for the default model) within
each density step unless ``eta_step`` sets another bound;
``eta_scheme: split`` (Strang splitting, the default until 2026-12) moves
boundaries at the exact rate but thins their layer above Δt ≈ 0.03 unless
``eta_step: 0.01`` gives it sub-steps.  ``rho_stabiliser: 0.6`` lowers the
density step's stabilising mobility to 0.6 × max M (default 1; at least 0.5,
0.75 with ``order: 2``): a smaller error per step, so larger steps at equal
accuracy.
``model: {tensorial: 1, c_body: 1}`` confines surface and boundary diffusion
to their interfaces (see :class:`datarial.sinter.model.Parameters`).
An optional ``material`` block maps physical
inputs onto the model (see :class:`datarial.sinter.model.Material`)::

    material:
      temperature: 350 degC
      spacing: 2 nm
      gamma_s: 1.7            # J/m2
      gamma_gb: 0.6
      molar_volume: 7.1e-6    # m3/mol
      D_surf: {D0: 2.6e-4, Q: 205e3}   # m2/s, J/mol
      D_gb: {D0: 4.0e-6, Q: 108e3}
      D_vol: {D0: 7.8e-5, Q: 211e3}
      delta_s: 0.5 nm         # optional: surface and boundary diffusion layer
      delta_gb: 0.5 nm        # thicknesses δ (0.5 nm if left out)

The surface and boundary paths carry δD V_m/RT along their interfaces
whatever the grid spacing, and the run then reports physical times (s)
beside the reduced ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datarial.errors import DatarialError
from datarial.sinter.assimilate import AssimilationSettings, parse_settings
from datarial.sinter.model import Arrhenius, Material, Parameters
from datarial.sinter.packing import (
    Packing,
    close_packed,
    from_labels,
    random_packing,
    two_particles,
)
from datarial.sinter.solver import SolverSettings

START_KINDS = ("two-particles", "random", "close-packed", "labels")


@dataclass(frozen=True)
class RunConfig:
    """A validated run: start packing, reduced parameters, solver settings, end time and outputs."""

    grid: tuple[int, ...]
    start: dict[str, Any]
    params: Parameters
    solver: SolverSettings
    time: float
    snapshots: int
    time_unit_s: float | None  # seconds per reduced time unit (with a material block)
    spacing_m: float | None
    source: str
    assimilate: AssimilationSettings | None = None  # the ``assimilate`` block
    anisotropy: tuple[float, float, float, float] | None = None  # k0…k3 of γ(n) (sinter fit-anisotropy)
    read_shockley: tuple[float, str] | None = None  # (θ_m in degrees, point group)

    def pair_factors(self, packing: Packing):
        """Read–Shockley pair factors, angles (°) and energy ratios for ``packing``, or None."""
        if self.read_shockley is None:
            return None
        from datarial.sinter.model import read_shockley_factors

        return read_shockley_factors(self.params, packing.rotations, self.read_shockley[1], self.read_shockley[0])

    def packing(self) -> Packing:
        s, where = dict(self.start), f"{self.source}: start"
        kind = s.pop("kind")
        seed = int(s.pop("seed", 0))
        try:
            if kind == "two-particles":
                return two_particles(self.grid, float(s["radius"]), float(s.get("overlap", 1.0)), seed=seed,
                                     neck=float(s.get("neck", 0.0)))
            if kind == "random":
                return random_packing(self.grid, int(s["n"]), float(s["radius"]), float(s.get("spread", 0.15)),
                                      float(s.get("overlap", 0.1)), self.solver.boundary == "periodic", seed=seed)
            if kind == "close-packed":
                return close_packed(self.grid, float(s["radius"]), float(s.get("overlap", 0.5)), seed=seed)
            from datarial.micro.io import read_volume

            path = Path(s["file"])
            if not path.is_absolute():
                path = Path(self.source).parent / path
            labels = np.asarray(read_volume(path))
            if labels.ndim == 3 and labels.shape[0] == 1:
                labels = labels[0]
            if tuple(labels.shape) != self.grid:
                raise DatarialError(f"{where}.file: image shape {labels.shape} differs from grid {self.grid}")
            return from_labels(labels.astype(np.int64), seed=seed)
        except KeyError as exc:
            raise DatarialError(f"{where}: kind {kind} needs '{exc.args[0]}'") from None
        except (TypeError, ValueError) as exc:
            raise DatarialError(f"{where}: {exc}") from None


def _number(value: Any, where: str, positive: bool = True) -> float:
    if isinstance(value, bool):
        raise DatarialError(f"{where}: {value!r} is not a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DatarialError(f"{where}: {value!r} is not a number") from None
    if positive and not v > 0:
        raise DatarialError(f"{where}: must be positive, got {value!r}")
    return v


def _temperature(value: Any, where: str) -> float:
    text = str(value).strip()
    try:
        if text.lower().endswith(("degc", "°c", " c")):
            return float(text.lower().replace("degc", "").replace("°c", "").replace(" c", "")) + 273.15
        if text.lower().endswith("k"):
            return float(text[:-1])
        return float(text)
    except ValueError:
        raise DatarialError(f"{where}: {value!r} is not a temperature (e.g. 350 degC or 623 K)") from None


def _length(value: Any, where: str) -> float:
    from datarial.units import parse_quantity

    return _number(parse_quantity(str(value), "length", what=where), where)


def parse_config(data: Any, source: str = "config") -> RunConfig:
    """Validate a mapping (as read from YAML) into a :class:`RunConfig`."""
    if not isinstance(data, dict):
        raise DatarialError(f"{source}: the configuration must be a mapping of fields")
    known = {"grid", "start", "model", "solver", "time", "snapshots", "material", "assimilate", "anisotropy",
             "read_shockley"}
    unknown = set(data) - known
    if unknown:
        raise DatarialError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    grid = data.get("grid")
    if not isinstance(grid, (list, tuple)) or len(grid) not in (2, 3) or not all(isinstance(g, int) and g >= 8 for g in grid):
        raise DatarialError(f"{source}: grid: give 2 or 3 whole numbers ≥ 8, e.g. [64, 128]")
    start = data.get("start")
    if not isinstance(start, dict) or start.get("kind") not in START_KINDS:
        raise DatarialError(f"{source}: start.kind: one of {', '.join(START_KINDS)}")
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise DatarialError(f"{source}: model: a mapping of parameter names to numbers")
    fields = {f.name for f in dataclasses.fields(Parameters)}
    bad = set(model) - fields
    if bad:
        raise DatarialError(f"{source}: model: unknown parameter(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(fields))}")
    try:
        params = Parameters(**{k: _number(v, f"{source}: model.{k}", positive=False) for k, v in model.items()})
    except DatarialError as exc:
        raise DatarialError(f"{source}: model: {exc.message}") from None
    solver = data.get("solver") or {}
    sfields = {f.name for f in dataclasses.fields(SolverSettings)}
    if not isinstance(solver, dict) or set(solver) - sfields:
        raise DatarialError(f"{source}: solver: known settings are {', '.join(sorted(sfields))}")
    try:
        settings = SolverSettings(**solver)
    except (DatarialError, TypeError) as exc:
        raise DatarialError(f"{source}: solver: {getattr(exc, 'message', exc)}") from None
    t_end = _number(data.get("time"), f"{source}: time")
    snapshots = data.get("snapshots", 10)
    if not isinstance(snapshots, int) or snapshots < 1:
        raise DatarialError(f"{source}: snapshots: a whole number ≥ 1")
    time_unit = spacing = None
    if data.get("material") is not None:
        params, time_unit, spacing = _material(data["material"], params, f"{source}: material")
    block = data.get("assimilate")
    if block is not None:
        block = parse_settings(block, f"{source}: assimilate")
    aniso = data.get("anisotropy")
    if aniso is not None:
        if not isinstance(aniso, (list, tuple)) or len(aniso) != 4:
            raise DatarialError(f"{source}: anisotropy: four numbers k0, k1, k2, k3 (from 'sinter fit-anisotropy')")
        aniso = tuple(_number(v, f"{source}: anisotropy[{i}]", positive=False) for i, v in enumerate(aniso))
    rs = data.get("read_shockley")
    if rs is not None:
        rs = _read_shockley(rs, f"{source}: read_shockley")
    return RunConfig(tuple(grid), dict(start), params, settings, t_end, snapshots, time_unit, spacing, source, block,
                     aniso, rs)


def _read_shockley(block: Any, where: str) -> tuple[float, str]:
    if not isinstance(block, dict) or "symmetry" not in block:
        raise DatarialError(f"{where}: give symmetry (the point group, e.g. m-3m or 4/mmm) and optionally "
                            "theta_max (default 15 deg)")
    bad = set(block) - {"symmetry", "theta_max"}
    if bad:
        raise DatarialError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
    from datarial.micro.grains import point_group

    try:
        point_group(str(block["symmetry"]))
    except DatarialError:
        raise DatarialError(f"{where}.symmetry: unknown point group {block['symmetry']!r} "
                            "(e.g. m-3m, 4/mmm, 6/mmm)") from None
    theta = block.get("theta_max", 15.0)
    if isinstance(theta, str):  # '15 deg', '0.26 rad' (SI radians → degrees)
        from datarial.units import parse_quantity

        theta = math.degrees(parse_quantity(theta, "angle", what=f"{where}.theta_max", default_unit="deg"))
    theta = _number(theta, f"{where}.theta_max")
    if theta > 62.8:
        raise DatarialError(f"{where}.theta_max: {theta:g}° is beyond any misorientation of a crystal")
    return float(theta), str(block["symmetry"])


def _material(m: Any, base: Parameters, where: str) -> tuple[Parameters, float, float]:
    if not isinstance(m, dict):
        raise DatarialError(f"{where}: a mapping")
    need = ("temperature", "spacing", "gamma_s", "gamma_gb", "molar_volume", "D_surf", "D_gb", "D_vol")
    missing = [k for k in need if k not in m]
    if missing:
        raise DatarialError(f"{where}: missing {', '.join(missing)}")

    def arrhenius(key):
        d = m[key]
        if not isinstance(d, dict) or "D0" not in d:
            raise DatarialError(f"{where}.{key}: give D0 (m2/s) and Q (J/mol), e.g. {{D0: 2.6e-4, Q: 205e3}}")
        return Arrhenius(_number(d["D0"], f"{where}.{key}.D0", positive=False),
                         _number(d.get("Q", 0.0), f"{where}.{key}.Q", positive=False))

    known = set(need) | {"D_vap", "L", "delta_s", "delta_gb"}
    unknown = set(m) - known
    if unknown:
        raise DatarialError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    layers = {k: _length(m[k], f"{where}.{k}") for k in ("delta_s", "delta_gb") if k in m}
    mat = Material(_number(m["gamma_s"], f"{where}.gamma_s"), _number(m["gamma_gb"], f"{where}.gamma_gb"),
                   _number(m["molar_volume"], f"{where}.molar_volume"), arrhenius("D_vol"), arrhenius("D_surf"),
                   arrhenius("D_gb"), arrhenius("D_vap") if "D_vap" in m else Arrhenius(0.0),
                   _number(m["L"], f"{where}.L") if "L" in m else None, **layers)
    T = _temperature(m["temperature"], f"{where}.temperature")
    dx = _length(m["spacing"], f"{where}.spacing")
    params, t0, _ = mat.reduce(T, dx, base)
    return params, t0, dx


def load_config(path: str | Path) -> RunConfig:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DatarialError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise DatarialError(f"{path}: not valid YAML{where}") from None
    return parse_config(data, str(path))
