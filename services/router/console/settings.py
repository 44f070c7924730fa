"""Console settings: who may look (viewer tokens) and act (manager tokens), and where the other services are."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DEV_SECRET


class ConsoleSettings(BaseSettings):
    """``CONSOLE_*`` environment variables; tokens are comma-separated lists so they can be rotated one by one."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", env_file=None, extra="ignore", case_sensitive=False)

    environment: str = Field(default="development", validation_alias="ENVIRONMENT")
    manager_tokens: str = DEV_SECRET
    viewer_tokens: str = ""
    scoring_url: str = "http://127.0.0.1:8002"
    notifier_url: str = "http://127.0.0.1:8004"
    # Manager actions go through the router's own HTTP API, so they obey the same validation as every client.
    router_url: str = "http://127.0.0.1:8003"
    http_timeout_s: float = 5.0
    queue_page_size: int = Field(default=200, ge=1, le=2000)
    gauge_refresh_s: float = Field(default=30.0, gt=0)
    # MQL → SQL conversion target shown on the team page (a common B2B target: 60%).
    mql_to_sql_target: float = Field(default=0.6, ge=0, le=1)
    # How often the queue re-renders itself (htmx polling) so SLA countdowns stay current.
    queue_refresh_s: int = Field(default=30, ge=5)
    cookie_secure: bool = False

    def tokens(self, role: str) -> list[str]:
        """The configured tokens of one role ("manager" or "viewer")."""
        raw = self.manager_tokens if role == "manager" else self.viewer_tokens
        return [t.strip() for t in raw.split(",") if t.strip()]

    def check_production(self) -> None:
        """Refuse the development token outside development, as the services do with their secrets."""
        if self.environment == "production" and (
            not self.tokens("manager") or any(t == DEV_SECRET for t in self.tokens("manager") + self.tokens("viewer"))
        ):
            raise ValueError("CONSOLE_MANAGER_TOKENS must be set to real secrets when ENVIRONMENT=production")


@lru_cache
def get_console_settings() -> ConsoleSettings:
    """The console's settings, read once."""
    settings = ConsoleSettings()
    settings.check_production()
    return settings
