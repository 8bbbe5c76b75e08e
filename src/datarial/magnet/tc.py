"""Critical temperature from a magnetization–temperature curve (ZFC/FC shielding).

The curve is normalised to the shielded fraction f(T) = (m_normal − m(T)) /
(m_normal − m_low): 0 in the normal state, 1 at full shielding.

* ``t_onset`` — where the tangent at the steepest part of the transition
  meets the normal-state baseline f = 0;
* ``t_c90`` — the highest temperature where the transition reaches 90 %
  (f = 0.9; the seed studies' Tc);
* ``t_c10`` — likewise for 10 %; ``width`` = t_c10 − t_c90.

All temperatures in K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarial.errors import DatarialError


@dataclass(frozen=True)
class TcResult:
    """Transition temperatures [K] and the normalised curve they were read from."""

    t_onset: float
    t_c90: float
    t_c10: float
    width: float
    temperature: np.ndarray
    shielded_fraction: np.ndarray


def _crossing_from_top(T: np.ndarray, f: np.ndarray, level: float) -> float:
    """Highest temperature where f rises through ``level`` coming from the normal state."""
    above = f >= level
    for i in range(len(T) - 1, 0, -1):
        if above[i - 1] and not above[i]:
            t0, t1, f0, f1 = T[i - 1], T[i], f[i - 1], f[i]
            return float(t0 + (level - f0) * (t1 - t0) / (f1 - f0))
    raise DatarialError(f"the curve never reaches {level:.0%} of full shielding")


def tc_from_mt(temperature: np.ndarray, moment: np.ndarray, normal_fraction: float = 0.15) -> TcResult:
    """Tc onset, Tc90, Tc10 and width from M(T); the top ``normal_fraction`` of the range is the normal state."""
    T = np.asarray(temperature, dtype=float)
    m = np.asarray(moment, dtype=float)
    ok = np.isfinite(T) & np.isfinite(m)
    T, m = T[ok], m[ok]
    if len(T) < 8:
        raise DatarialError("M(T) needs at least 8 points")
    order = np.argsort(T, kind="stable")
    T, m = T[order], m[order]
    uT, inv = np.unique(T, return_inverse=True)
    um = np.bincount(inv, weights=m) / np.bincount(inv)
    T, m = uT, um
    t_hi = T.max() - normal_fraction * (T.max() - T.min())
    normal = m[T >= t_hi]
    low = m[: max(3, len(m) // 20)].mean()
    m_normal = float(np.median(normal))
    if abs(m_normal - low) < 1e-12 * max(abs(m_normal), 1e-30):
        raise DatarialError("no transition: the moment is the same at low and high temperature")
    f = (m_normal - m) / (m_normal - low)
    t90 = _crossing_from_top(T, f, 0.9)
    t10 = _crossing_from_top(T, f, 0.1)
    # Onset: the steepest tangent between the 10 % and 90 % points, extrapolated to f = 0.
    sel = (T >= t90) & (T <= t10)
    if sel.sum() >= 2:
        slopes = np.gradient(f, T)
        i = np.flatnonzero(sel)[np.argmin(slopes[sel])]
        onset = float(T[i] - f[i] / slopes[i]) if slopes[i] < 0 else t10
    else:
        onset = t10 + (t10 - t90) / 8.0  # a sharp transition: the tangent meets f = 0 just above 10 %
    return TcResult(onset, t90, t10, t10 - t90, T, f)
