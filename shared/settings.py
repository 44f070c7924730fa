"""One settings base for every service: infrastructure addresses, log level, environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.gc_tuning import THRESHOLDS, parse_thresholds

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "changethis"  # noqa: S105 - the marker that refuses to start outside development


class BaseServiceSettings(BaseSettings):
    """Settings every service shares; each service subclasses it and adds only its own."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql+asyncpg://leadflow:leadflow@127.0.0.1:55432/leadflow"
    leadflow_config_dir: Path = Field(default=REPO_ROOT / "config")
    # Database pool: small by default, services are I/O bound and share one 2-core box in development.
    db_pool_size: int = 5
    db_pool_timeout_s: float = 5.0
    migrate_on_start: bool = True
    # How often consumer services publish their consumer-group lag (end offset − committed) as a metric.
    lag_interval_s: float = 15.0
    # Consumers: the most a fetch brings of one partition's records (aiokafka's default: 1 MiB, ~1,400 events).
    kafka_max_partition_fetch_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Consumers: the partitions of one fetch applied as one batch, one transaction and one offset commit
    # (ConsumerLoop.merge_partitions); false applies them one partition batch at a time.
    consumer_merge_partitions: bool = True
    # Garbage-collector thresholds set once started (shared/gc_tuning.py); CPython's own are 700,10,10.
    gc_thresholds: str = ",".join(str(n) for n in THRESHOLDS)

    @field_validator("gc_thresholds")
    @classmethod
    def _thresholds_parse(cls, value: str) -> str:
        parse_thresholds(value)
        return value

    @property
    def gc_threshold_values(self) -> tuple[int, int, int]:
        return parse_thresholds(self.gc_thresholds)

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> BaseServiceSettings:
        if self.environment == "production":
            for name, value in self.secrets().items():
                if not value or value == DEV_SECRET:
                    raise ValueError(f"{name.upper()} must be set to a real secret when ENVIRONMENT=production")
        return self

    def secrets(self) -> dict[str, str | None]:
        """The secrets this service needs; subclasses list theirs so production refuses the dev defaults."""
        return {}
