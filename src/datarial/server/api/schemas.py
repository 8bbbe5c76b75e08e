"""Request bodies of the REST API (unknown fields are refused, naming the field)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignCreate(Strict):
    """A new campaign from a space (as a mapping like the YAML file, or the YAML text itself)."""

    space: dict[str, Any] | None = Field(None, description="search space as in the campaign YAML")
    space_yaml: str | None = Field(None, description="the campaign YAML (or JSON) text")
    name: str | None = Field(None, description="campaign name (default: the space's name)")
    settings: dict[str, Any] | None = Field(None, description="model settings (kernel, noise, beta, ...)")


class ResultsIn(Strict):
    """Results from instruments, scripts or people; see ``Campaign.record_results``."""

    results: list[dict[str, Any]] = Field(
        ..., description="items with proposal_id | experiment_id | conditions, and value | values "
                         "(objective units); optional measured_by, measured_at, note")


class ExperimentEdit(Strict):
    conditions: dict[str, Any] | None = Field(None, description="new values of some or all parameters")
    note: str | None = None
    reason: str = Field("", description="why (kept in the edit history)")


class MeasurementsAdd(Strict):
    values: list[float] = Field(..., min_length=1, description="replicate values (objective units)")
    measured_by: str | None = None
    note: str = ""


class MeasurementEdit(Strict):
    value: float | None = Field(None, description="corrected value (objective units)")
    note: str | None = None
    measured_by: str | None = None
    reason: str = Field("", description="why (kept in the edit history)")


class ProposeIn(Strict):
    batch_size: int = Field(5, ge=1, le=20, description="proposals in the batch (1-20)")
    acquisition: Literal["ei", "ucb", "pi", "qlognei"] | None = None  # None: the campaign's setting
    beta: float | None = Field(None, ge=0, description="UCB weight (exploration)")
    xi: float | None = Field(None, ge=0, description="EI/PI exploration margin (standardised units)")
    seed: int | None = Field(None, ge=0, lt=2**31 - 1)
    remeasure: bool = False


class AbandonIn(Strict):
    proposal_ids: list[int] = Field(..., min_length=1)


class PredictIn(Strict):
    points: dict[str, list[Any]] = Field(..., description="{parameter: [values]} in the parameters' units")


class MapIn(Strict):
    axes: list[str] = Field(..., min_length=1, max_length=3, description="1-3 parameters to vary")
    fixed: dict[str, Any] | None = Field(None, description="values of the other parameters (default: best point)")
    resolution: int | None = Field(None, ge=2, le=1000, description="points per numeric axis")
    acquisition: Literal["ei", "ucb", "pi", "qlognei"] | None = "ei"


class TokenIn(Strict):
    role: Literal["read", "write"] = "read"
    label: str = Field("", max_length=200)
