"""Scoring settings: the shared base plus the model file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from shared.settings import BaseServiceSettings


class ScoringSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-scoring"
    max_batch: int = 500

    @property
    def model_path(self) -> Path:
        return self.leadflow_config_dir / "scoring.yaml"


@lru_cache
def get_settings() -> ScoringSettings:
    return ScoringSettings()
