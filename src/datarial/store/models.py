"""SQLAlchemy 2 models of the shared experiment database.

One schema serves SQLite (the embedded default) and PostgreSQL (a lab server).
Conditions are stored as JSON objects ``{parameter: value}`` in the
parameters' own units, plus a canonical ``condition_key`` text used to group
replicates and to find already-measured conditions with an index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")

    experiments: Mapped[list[ExperimentRow]] = relationship(back_populates="campaign", cascade="all, delete-orphan")


class BatchRow(Base):
    """One call of the optimizer: q proposals made with one model and acquisition."""

    __tablename__ = "proposal_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    acquisition: Mapped[str] = mapped_column(String(32))
    batch_size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    method: Mapped[str] = mapped_column(String(32))  # "model" or the initial design used
    model_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")

    proposals: Mapped[list[ProposalRow]] = relationship(back_populates="batch", order_by="ProposalRow.id")


class ProposalRow(Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("proposal_batches.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON)
    condition_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | measured | abandoned
    acquisition_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_std: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    batch: Mapped[BatchRow] = relationship(back_populates="proposals")

    __table_args__ = (Index("ix_proposals_campaign_status", "campaign_id", "status"),)


class ExperimentRow(Base):
    """One run of the process at given conditions (one sample); measured ≥ 1 times."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON)
    condition_key: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # researcher | proposed
    round: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_batches.id", ondelete="SET NULL"), nullable=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"), nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")

    campaign: Mapped[CampaignRow] = relationship(back_populates="experiments")
    measurements: Mapped[list[MeasurementRow]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="MeasurementRow.id"
    )
    descriptors: Mapped[list[DescriptorRow]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="DescriptorRow.id"
    )

    __table_args__ = (Index("ix_experiments_campaign_key", "campaign_id", "condition_key"),)


class MeasurementRow(Base):
    """One replicate measurement of the objective on one experiment."""

    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64), default="")
    measured_by: Mapped[str] = mapped_column(String(200), default="")
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    raw_file: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # Set when the value is derived from an attached raw file (recomputed with it).
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="CASCADE"), nullable=True, index=True)

    experiment: Mapped[ExperimentRow] = relationship(back_populates="measurements")


class DescriptorRow(Base):
    """A named number that describes an experiment's sample (e.g. mean grain diameter in µm),
    from an attached analysis summary or an imported table; one value per name and experiment."""

    __tablename__ = "descriptors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    experiment: Mapped[ExperimentRow] = relationship(back_populates="descriptors")

    __table_args__ = (UniqueConstraint("experiment_id", "name", name="uq_descriptors_experiment_name"),)


class BlobRow(Base):
    """A raw file's bytes, stored once per content (SHA-256), so results can be reproduced."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AttachmentRow(Base):
    """A raw file attached to an experiment, with what is needed to analyse it (e.g. sample size)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    filename: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32), default="file")
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class EditRow(Base):
    """One change to stored data (edit or deletion of an experiment or measurement), kept for good."""

    __tablename__ = "edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(16))  # experiment | measurement
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # add | edit | delete
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    edited_by: Mapped[str] = mapped_column(String(200), default="")
    edited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_edits_campaign_entity", "campaign_id", "entity", "entity_id"),)


class TokenRow(Base):
    """An issued API token (only its SHA-256 is stored); role ``read`` or ``write``."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


__all__ = [
    "Base",
    "AttachmentRow",
    "EditRow",
    "TokenRow",
    "BatchRow",
    "BlobRow",
    "CampaignRow",
    "ExperimentRow",
    "MeasurementRow",
    "ProposalRow",
    "utcnow",
]
