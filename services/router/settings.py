"""Router settings: the shared base plus its consumer group and SLA clock."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from shared.settings import BaseServiceSettings


class RouterSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-router"
    max_batch: int = 200
    # How often each instance looks for due SLA reminders and breaches: the worst-case lateness of an alarm.
    sla_tick_interval_s: float = Field(default=5.0, gt=0)
    # Timers claimed per tick; a backlog after downtime drains in back-to-back ticks of this size.
    sla_tick_batch: int = Field(default=100, ge=1)

    @property
    def routing_path(self) -> Path:
        return self.leadflow_config_dir / "routing.yaml"


@lru_cache
def get_settings() -> RouterSettings:
    return RouterSettings()
