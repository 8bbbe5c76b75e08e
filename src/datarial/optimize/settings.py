"""Settings of the surrogate model and the proposal search (stored with every batch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from datarial.errors import DatarialError

Acquisition = Literal["ei", "ucb", "pi", "qlognei"]
ACQUISITIONS: tuple[str, ...] = ("ei", "ucb", "pi", "qlognei")


@dataclass(frozen=True)
class ModelSettings:
    """How the Gaussian-process surrogate is built and how proposals are searched.

    kernel:
        ``matern52`` (ARD Matérn-5/2, default) or ``rbf``; both with per-dimension
        lengthscales (prior: ``lengthscale_prior``).
    lengthscale_prior:
        ``gamma`` (default) — a dimension-scaled Gamma(3) prior with its mode at
        0.20·√d and a light tail; ``lognormal`` — the log-normal prior of
        Hvarfner et al. (2024) with the same mode, BoTorch's default, whose heavy
        tail lets a parameter the data say little about drift to a long
        lengthscale and be ignored (on the MgB2 landscape of
        ``benchmarks/bo_quality`` it left the powder fraction unexplored; see
        :class:`~datarial.optimize.exact.LengthscalePrior`).
    noise:
        ``learned`` — homoscedastic noise is fitted (replicates inform it);
        ``none`` — the model interpolates the replicate means (noiseless option).
    replicates:
        ``each`` — every replicate is a training row; ``mean`` — one row per
        condition, the mean with its standard error (pooled replicate variance / n).
    acquisition:
        the campaign's default acquisition for proposals: ``ucb`` (default; the
        most reliable for batches in ``benchmarks/bo_quality``), ``ei``, ``pi``
        or ``qlognei``.
    beta:
        UCB weight (mean + sqrt(beta)·std, in standardised units).
    xi:
        EI/PI exploration: improvement counted above best + xi (standardised units).
    incumbent:
        the "best so far" that EI/PI improve on: ``mean`` — the largest posterior
        mean at a measured condition (plug-in EI; robust to noise, default), or
        ``observed`` — the largest measured replicate mean (biased upwards by noise).
    min_observations:
        below this many distinct measured conditions an initial design is proposed.
    initial_design:
        ``sobol`` (scrambled Sobol on the grid) or ``corners`` (box corners + centre).
    output_warp:
        ``yeo-johnson`` (default) — the GP models a Yeo–Johnson transform of the
        standardised model-space values, its exponent fitted to the data (see
        :class:`~datarial.optimize.surrogate.OutputWarp`); ``none`` — no warp.
    """

    kernel: Literal["matern52", "rbf"] = "matern52"
    lengthscale_prior: Literal["lognormal", "gamma"] = "gamma"
    acquisition: Acquisition = "ucb"
    noise: Literal["learned", "none"] = "learned"
    replicates: Literal["each", "mean"] = "each"
    beta: float = 2.0
    xi: float = 0.0
    incumbent: Literal["mean", "observed"] = "mean"
    min_observations: int = 3
    initial_design: Literal["sobol", "corners"] = "sobol"
    output_warp: Literal["yeo-johnson", "none"] = "yeo-johnson"
    mc_samples: int = 256
    raw_candidates: int = 2048
    max_enumerate: int = 20_000
    local_search_starts: int = 4
    local_search_iterations: int = 12

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "model settings") -> ModelSettings:
        """Validated settings from a mapping (unknown keys and bad values are refused)."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        for key in data:
            if key not in names:
                raise DatarialError(f"{where}: unknown setting '{key}' (known: {', '.join(sorted(names))})")
        choices = {
            "kernel": ("matern52", "rbf"),
            "lengthscale_prior": ("lognormal", "gamma"),
            "noise": ("learned", "none"),
            "replicates": ("each", "mean"),
            "initial_design": ("sobol", "corners"),
            "incumbent": ("mean", "observed"),
            "acquisition": ACQUISITIONS,
            "output_warp": ("yeo-johnson", "none"),
        }
        for key, allowed in choices.items():
            if key in data and data[key] not in allowed:
                raise DatarialError(f"{where}: {key} must be one of {', '.join(allowed)}, got {data[key]!r}")
        for key in ("beta", "xi"):
            if key in data:
                try:
                    data[key] = float(data[key])
                except (TypeError, ValueError):
                    raise DatarialError(f"{where}: {key} must be a number, got {data[key]!r}") from None
                if data[key] < 0:
                    raise DatarialError(f"{where}: {key} must not be negative")
        for key in ("min_observations", "mc_samples", "raw_candidates", "max_enumerate",
                    "local_search_starts", "local_search_iterations"):
            if key in data:
                if isinstance(data[key], bool) or not isinstance(data[key], int) or data[key] < 1:
                    raise DatarialError(f"{where}: {key} must be a positive whole number, got {data[key]!r}")
        return cls(**data)

    def replace(self, **changes: Any) -> ModelSettings:
        return ModelSettings.from_dict({**self.to_dict(), **changes})
