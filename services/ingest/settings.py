"""Ingest settings: the shared base plus what only the front door needs."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import DEV_SECRET, BaseServiceSettings


def _csv(value: str) -> frozenset[str]:
    return frozenset(item.strip() for item in value.split(",") if item.strip())


class IngestSettings(BaseServiceSettings):
    ingest_api_keys: str = ""  # comma-separated; empty means open, which only development allows
    webhook_secret: str = DEV_SECRET
    # Each vendor's secret defaults to WEBHOOK_SECRET, so one secret is enough to start with.
    mautic_webhook_secret: str = ""
    hubspot_client_secret: str = ""
    # HubSpot signs the URL it called; behind a proxy that is not the URL ingest sees, so it can be pinned.
    hubspot_webhook_url: str = ""
    signature_tolerance_s: int = 300
    default_phone_region: str = "JP"
    publish_timeout_s: float = 5.0  # answer 503 rather than hold a client while Kafka is away
    retry_after_s: int = 5
    # Load shedding: event requests being worked on at once before new ones get 503 at the door (0: no limit).
    # At 1,000 events/s and ~15 ms each, ~15 are in progress; 256 is a queue of a few hundred ms, not seconds.
    max_in_flight: int = 256
    overload_retry_after_s: int = 1
    # Event posts answered by the direct lane (lane.py) rather than FastAPI's routing: the same answers, less CPU.
    event_lane: bool = True
    kafka_connect_backoff_s: float = 0.5
    kafka_connect_backoff_max_s: float = 10.0
    max_body_bytes: int = 256 * 1024
    max_batch_body_bytes: int = 1024 * 1024
    max_batch_events: int = 1000
    # Idempotency: the same key or event id within this window returns the first answer, publishing nothing.
    idempotency_ttl_h: int = 24
    # CSV import: a show's badge list is rarely over a few thousand rows; the limits keep one upload bounded.
    max_csv_bytes: int = 10 * 1024 * 1024
    max_csv_rows: int = 50_000
    csv_publish_chunk: int = 500
    # Browser forms: "key:site" pairs (site is a label for metrics and logs), allowed origins, a honeypot field.
    ingest_form_keys: str = ""
    cors_origins: str = ""
    form_honeypot_field: str = "website_url"
    trust_forwarded_for: bool = False  # set when a proxy in front of ingest sets X-Forwarded-For
    # Token buckets, per instance: a burst, then a steady rate. Per API key / webhook source, and per IP for forms.
    rate_limit_per_source_per_s: float = 1000.0
    rate_limit_source_burst: int = 2000
    rate_limit_per_ip_per_s: float = 0.2
    rate_limit_ip_burst: int = 5
    rate_limit_max_buckets: int = 100_000
    # Mautic forms: alias → LeadFlow form kind, "alias:kind,…"; aliases not listed are guessed from their name.
    mautic_form_kinds: str = ""
    purge_interval_s: float = 600.0

    @property
    def mautic_secret(self) -> str:
        return self.mautic_webhook_secret or self.webhook_secret

    @property
    def hubspot_secret(self) -> str:
        return self.hubspot_client_secret or self.webhook_secret

    @property
    def api_keys(self) -> frozenset[str]:
        return _csv(self.ingest_api_keys)

    @property
    def form_keys(self) -> dict[str, str]:
        """Public form key → site label; a key without a label is its own site."""
        out: dict[str, str] = {}
        for item in _csv(self.ingest_form_keys):
            key, _, site = item.partition(":")
            out[key.strip()] = site.strip() or "site"
        return out

    @property
    def allowed_origins(self) -> list[str]:
        return sorted(_csv(self.cors_origins))

    @property
    def mautic_form_map(self) -> dict[str, str]:
        return {a.strip().lower(): k.strip() for a, _, k in (i.partition(":") for i in _csv(self.mautic_form_kinds))}

    def secrets(self) -> dict[str, str | None]:
        return {
            "webhook_secret": self.webhook_secret,
            "mautic_webhook_secret": self.mautic_secret,
            "hubspot_client_secret": self.hubspot_secret,
            "ingest_api_keys": self.ingest_api_keys,
        }


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
