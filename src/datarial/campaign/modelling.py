"""The campaign's model: the cached GP fit, predictions, maps, unexplored regions, history.

A mixin of :class:`~datarial.campaign.Campaign`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from datarial.errors import DatarialError
from datarial.optimize import (
    ModelSettings,
    Observations,
    Prediction,
    Surrogate,
    SurrogateCache,
    fit_surrogate,
)
from datarial.optimize.diagnostics import LooDiagnostics, loo_diagnostics
from datarial.optimize.maps import (
    ModelMap,
    UnexploredRegion,
    best_conditions,
    compute_map,
    unexplored_regions,
)
from datarial.space import SearchSpace

_SURROGATES = SurrogateCache()


class ModelMixin:
    """The model views of a campaign; see the module docstring."""

    name: str
    space: SearchSpace
    settings: ModelSettings

    def surrogate(self, settings: Mapping[str, Any] | None = None, seed: int | None = 0,
                  observations: Observations | None = None) -> Surrogate:
        """The GP fitted to every measurement of the campaign (for maps and diagnostics).

        Fits are cached by their data and settings, so maps of an unchanged
        campaign reuse the model; any new, edited or deleted value refits.
        """
        obs = observations if observations is not None else self.observations()
        if len(obs) == 0:
            raise DatarialError(f"campaign '{self.name}' has no measurements yet; the model needs data")
        run_settings = self.settings.replace(**dict(settings or {}))
        X = self.space.to_unit(obs.columns)
        key = hashlib.sha256(X.tobytes() + np.asarray(obs.values, dtype=float).tobytes()
                             + json.dumps([self.space.to_dict(), run_settings.to_dict(), seed],
                                          sort_keys=True, default=str).encode()).hexdigest()
        return _SURROGATES.get_or_fit(key, lambda: fit_surrogate(self.space, X, obs.values, run_settings, seed=seed))

    def diagnose(self, settings: Mapping[str, Any] | None = None) -> LooDiagnostics:
        """Leave-one-out check of the current model (see :mod:`datarial.optimize.diagnostics`)."""
        return loo_diagnostics(self.surrogate(settings))

    def predict(self, points: Mapping[str, Iterable[Any]], surrogate: Surrogate | None = None) -> Prediction:
        """Predicted objective (mean, std, ±1σ band; objective units) at value columns."""
        surrogate = surrogate or self.surrogate()
        try:
            columns = {n: list(points[n]) for n in self.space.names}
        except KeyError as exc:
            raise DatarialError(f"points.{exc.args[0]}: missing") from None
        except TypeError:
            raise DatarialError("points: expected {parameter: [values]}") from None
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise DatarialError("points: every parameter needs the same number of values")
        from datarial.campaign.editing import coerce_conditions

        rows = [coerce_conditions(self.space, {n: columns[n][i] for n in self.space.names}, f"points[{i}]")
                for i in range(lengths.pop())]
        return surrogate.predict(self.space.to_unit({n: [r[n] for r in rows] for n in self.space.names}))

    def _pending_columns(self) -> dict[str, list[Any]] | None:
        pend = self.pending()
        return {n: [p.conditions[n] for p in pend] for n in self.space.names} if pend else None

    def model_map(self, axes: Sequence[str], *, fixed: Mapping[str, Any] | None = None,
                  resolution: int | None = None, acquisition: str | None = "ei",
                  settings: Mapping[str, Any] | None = None) -> ModelMap:
        """Mean, std and acquisition on a 1–3D slice (see :func:`datarial.optimize.maps.compute_map`)."""
        obs = self.observations()
        run_settings = self.settings.replace(**dict(settings or {}))
        sur = self.surrogate(settings, observations=obs)
        return compute_map(self.space, sur, axes, fixed=fixed, resolution=resolution, acquisition=acquisition,
                           settings=run_settings, observations=obs, pending=self._pending_columns())

    def unexplored(self, axes: Sequence[str], *, fixed: Mapping[str, Any] | None = None,
                   resolution: int | None = None, n_suggestions: int = 10) -> UnexploredRegion:
        """Where no data and high uncertainty remain, with suggested points for researchers."""
        obs = self.observations()
        return unexplored_regions(self.space, self.surrogate(observations=obs), axes, fixed=fixed,
                                  resolution=resolution, observations=obs, n_suggestions=n_suggestions)

    def history_maps(self, axes: Sequence[str], *, fixed: Mapping[str, Any] | None = None,
                     resolution: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> list[tuple[int, ModelMap | None]]:
        """The mean map after each round (the model fitted to data up to that round).

        The slice is held the same for every round (default: the best condition
        over all rounds), so the maps can be compared side by side.  A round
        without data yet gives ``None``.
        """
        rounds = [r.round for r in self.status().rounds]
        everything = self.observations()
        if fixed is None:
            fixed = best_conditions(self.space, everything)
        out: list[tuple[int, ModelMap | None]] = []
        for k, r in enumerate(rounds):
            obs = self.observations(max_round=r)
            if len(obs) == 0:
                out.append((r, None))
            else:
                sur = self.surrogate(observations=obs)
                out.append((r, compute_map(self.space, sur, axes, fixed=fixed, resolution=resolution,
                                           acquisition=None, observations=obs)))
            if progress is not None:
                progress(k + 1, len(rounds))
        return out
