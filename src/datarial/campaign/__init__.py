"""Campaigns: the shared experiment record of both loops, proposals and history."""

from datarial.campaign.attachments import AttachReport
from datarial.campaign.campaign import (
    Campaign,
    CampaignInfo,
    CampaignStatus,
    ExperimentSummary,
    ImportReport,
    ProposalBatch,
    ProposedExperiment,
    RecordReport,
    RoundSummary,
)
from datarial.campaign.descriptors import DescriptorCheck, DescriptorCorrelation
from datarial.campaign.editing import EditRecord, ExperimentDetail, ResultsReport
from datarial.campaign.records import ExperimentRecord, MeasurementRecord

__all__ = [
    "AttachReport",
    "Campaign",
    "CampaignInfo",
    "CampaignStatus",
    "DescriptorCheck",
    "DescriptorCorrelation",
    "EditRecord",
    "ExperimentDetail",
    "ResultsReport",
    "ExperimentRecord",
    "ExperimentSummary",
    "ImportReport",
    "MeasurementRecord",
    "ProposalBatch",
    "ProposedExperiment",
    "RecordReport",
    "RoundSummary",
]
