"""Router settings: the shared base plus its consumer group."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from shared.settings import BaseServiceSettings


class RouterSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-router"
    max_batch: int = 200

    @property
    def routing_path(self) -> Path:
        return self.leadflow_config_dir / "routing.yaml"


@lru_cache
def get_settings() -> RouterSettings:
    return RouterSettings()
