"""Scoring settings: the shared base plus the model file, the admin token and the background jobs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from shared.settings import DEV_SECRET, BaseServiceSettings


class ScoringSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-scoring"
    # Records per fetch, across the partitions this member owns: one transaction for a small fetch (with
    # CONSUMER_MERGE_PARTITIONS=false, one per partition's share).
    max_batch: int = Field(default=500, ge=1)
    # A large fetch (a backlog: at least 100 records a batch) is scored as up to this many merged batches at once,
    # their database and broker round trips overlapping (with merging off: partition batches at once). A lead's
    # events all share one partition, so two batches never touch the same lead. Full drain of 1,000,000 events
    # over 100,000 leads: 1,214 events/s with a fetch always one batch, 1,481 with up to 3 at once.
    partition_concurrency: int = Field(default=3, ge=1, le=32)
    # A fetch brings at most 128 KB of a partition (~170 events; aiokafka's default is 1 MiB): what is fetched
    # ahead waits in memory. Full drain of 1,000,000 events over 100,000 leads, A/B: peak RSS 139 → 133 MB,
    # 1,419 → 1,518 events/s (within the run-to-run spread).
    kafka_max_partition_fetch_bytes: int = Field(default=128 * 1024, ge=1024)
    # Stored events kept parsed (~3 KB each): the histories of the leads active right now, not parsed again on
    # their next event. 0 turns the cache off.
    parsed_event_cache: int = Field(default=2_000, ge=0)
    # Bearer token of /v1/admin/* (reload the model, start a re-evaluation, read a job).
    scoring_admin_token: str = DEV_SECRET
    # Decay re-evaluation: how often every lead that can still move down is scored again with a fresh clock.
    # 0 turns the periodic task off (a re-evaluation can still be started through the admin endpoint).
    reevaluate_interval_s: float = Field(default=3600.0, ge=0)
    # The first one runs soon after start, so frequent restarts (deploys) never starve it.
    reevaluate_first_delay_s: float = Field(default=60.0, ge=0)
    # Leads per page (one transaction each) when rescoring or re-evaluating. The hourly re-evaluation runs beside
    # the consumer: pages of 500 raised the service's peak memory by ~12 MB for good (a drain of 300,000 events
    # over 30,000 leads: 151 MB at 500, 137 MB at 100 together with Alembic's removal).
    job_batch_size: int = Field(default=100, ge=1, le=5000)
    # Walks over the leads a rescore may take: a consumer batch that began under the old model can commit
    # after the walk passed its lead, and the next walk picks it up.
    rescore_max_passes: int = Field(default=3, ge=1)
    # On start, rescore leads scored by another model version (scoring.yaml changed while the service was down).
    rescore_on_start: bool = True

    @property
    def model_path(self) -> Path:
        return self.leadflow_config_dir / "scoring.yaml"

    def secrets(self) -> dict[str, str | None]:
        return {"scoring_admin_token": self.scoring_admin_token}


@lru_cache
def get_settings() -> ScoringSettings:
    return ScoringSettings()
