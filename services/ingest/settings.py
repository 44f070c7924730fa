"""Ingest settings: the shared base plus what only the front door needs."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import DEV_SECRET, BaseServiceSettings


class IngestSettings(BaseServiceSettings):
    ingest_api_keys: str = ""  # comma-separated; empty means open, which only development allows
    webhook_secret: str = DEV_SECRET
    default_phone_region: str = "JP"
    publish_timeout_s: float = 5.0  # answer 503 rather than hold a client while Kafka is away
    max_body_bytes: int = 256 * 1024
    max_batch_body_bytes: int = 1024 * 1024

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.ingest_api_keys.split(",") if k.strip())

    def secrets(self) -> dict[str, str | None]:
        return {"webhook_secret": self.webhook_secret, "ingest_api_keys": self.ingest_api_keys}


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
