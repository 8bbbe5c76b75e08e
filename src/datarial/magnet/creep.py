"""Flux creep: logarithmic decay of trapped field or remanent moment.

Fits B(t) = B0 − b ln t (equivalently B(t)/B(t0) = a − S ln t) by least
squares on ln t.  The normalised creep rate is S = b / B(t0) and the relative
decay rate at time t is (dB/dt)/B = −b / (t B(t)), reported in ppm/h — to be
compared with the 0.1 ppm/h field stability an MRI magnet in persistent mode
needs.  Times in s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarial.errors import DatarialError

MRI_STABILITY_PPM_PER_H = 0.1


@dataclass(frozen=True)
class CreepResult:
    """Fit of B = B0 − b ln t (B in the input's unit, t in s) and the derived rates."""

    b0: float
    b: float
    t0: float
    a: float  # B(t)/B(t0) = a − S ln t
    s: float  # normalised creep rate S = b / B(t0)
    r_squared: float
    time: np.ndarray
    value: np.ndarray

    def value_at(self, t: float | np.ndarray) -> np.ndarray:
        return self.b0 - self.b * np.log(t)

    def decay_ppm_per_hour(self, t: float) -> float:
        """Relative decay rate −(dB/dt)/B at time t [s], in ppm per hour."""
        return float(self.b / (t * self.value_at(t)) * 3600.0 * 1e6)

    def time_to_reach(self, ppm_per_hour: float = MRI_STABILITY_PPM_PER_H) -> float:
        """Time [s] after which the decay rate stays below ``ppm_per_hour`` (inf if never)."""
        if self.b <= 0:
            return 0.0
        target = ppm_per_hour / 3.6e9  # per second
        # rate(t) = b / (t (B0 − b ln t)) is decreasing while B > 0: bisect in ln t.
        lo, hi = np.log(self.t0), np.log(self.t0) + 1.0
        while self.decay_ppm_per_hour(np.exp(hi)) / 3.6e9 > target:
            hi += 1.0
            if hi > 200 or self.value_at(np.exp(hi)) <= 0:
                return float("inf")
        if self.decay_ppm_per_hour(np.exp(lo)) / 3.6e9 <= target:
            return float(self.t0)
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if self.decay_ppm_per_hour(np.exp(mid)) / 3.6e9 > target:
                lo = mid
            else:
                hi = mid
        return float(np.exp(hi))


def fit_creep(time: np.ndarray, value: np.ndarray) -> CreepResult:
    """Fit the logarithmic decay of ``value`` (field or moment) against ``time`` [s] > 0."""
    t = np.asarray(time, dtype=float)
    y = np.asarray(value, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) < 3:
        raise DatarialError("a creep fit needs at least 3 points")
    if np.any(t <= 0):
        raise DatarialError("creep times must be positive (time since the field was set); "
                            "shift the time axis or pass the start time")
    x = np.log(t)
    A = np.column_stack([np.ones_like(x), -x])
    (b0, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - (b0 - b * x)
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else 1.0
    t0 = float(t.min())
    y0 = b0 - b * np.log(t0)
    return CreepResult(float(b0), float(b), t0, float(b0 / y0), float(b / y0), r2, t, y)
