"""Runtime settings of the scoring service, read from ``BERTH_*`` environment variables.

Nothing here runs on import: build :class:`Settings` where it is needed (the app factory, the
CLI). Unsafe settings are refused outside ``environment="development"`` rather than silently
ignored, so a production deployment can never run unauthenticated or import a test scorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "staging", "production"]


class Settings(BaseSettings):
    """Settings of ``berth serve`` and the API; every field maps to ``BERTH_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="BERTH_", extra="ignore", frozen=True, protected_namespaces=("settings_",)
    )

    environment: Environment = Field(
        default="production", description="development relaxes the safety checks below."
    )
    database_url: str = Field(
        default="sqlite:///berth.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user:pw@host/db.",
    )
    auto_migrate: bool = Field(default=True, description="Run the database migrations at start-up.")
    model_source: str = Field(
        default="registry", description="'registry' (MLflow alias 'champion') or a bundle folder path."
    )
    model_name: str = Field(default="berth-churn", min_length=1, description="Registered model name.")
    bundle_public_keys: str = Field(
        default="",
        description="Comma-separated PEM files of the Ed25519 public keys whose signatures a bundle "
        "folder must carry (berth keys create; berth export --sign-key).",
    )
    allow_unsigned_bundles: bool = Field(
        default=False, description="Serve a bundle folder without a valid signature (not recommended)."
    )
    scorer_factory: str | None = Field(
        default=None,
        description="'module:function' returning a Scorer, instead of the registry (development only).",
    )
    auth_disabled: bool = Field(default=False, description="Skip API-key checks (development only).")
    api_key_cache_ttl_s: float = Field(
        default=10.0, ge=0.0, description="How long a verified API key is trusted without a DB lookup."
    )
    max_batch_size: int = Field(default=1000, ge=1, description="Most customers in one scoring request.")
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        le=2**31 - 1,  # the columnar decoder's text offsets are int32
        description="Largest request body.",
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request head (request line and headers): above it the server answers "
        "431 and closes the connection before the application (and the API-key check) runs.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        description="Time allowed to receive a request's whole body, from the request's start: a "
        "stalled body (Content-Length above what is sent) is answered 408 and the connection closed.",
    )
    keep_alive_timeout_s: int = Field(
        default=5,
        ge=1,
        description="An idle connection is closed after this many seconds, and a request's head must "
        "arrive within it (else 408).",
    )
    playbook_path: Path = Field(
        default=Path("configs/playbook.yaml"),
        description="Retention playbook whose recommendations scores carry (docs/recommendations.md). "
        "An invalid file stops the start-up; a missing one serves scores without recommendations.",
    )
    request_timeout_s: float = Field(default=30.0, gt=0.0, description="Time limit of one scoring call.")
    inline_scoring_max_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="Scoring bodies up to this size holding at most 8 customers are scored on the "
        "event loop: their work is bounded (a few ms at most) and a thread hop would cost more than "
        "it; other bodies are scored in a worker thread under request_timeout_s. 0: all in threads.",
    )
    prediction_log_queue: int = Field(
        default=10_000,
        ge=1,
        description="Requests queued for the prediction-log writer (then callers write).",
    )
    prediction_log_mode: Literal["durable", "async"] = Field(
        default="durable",
        description="durable: a scoring response is sent only after its prediction-log rows are "
        "committed (group commit); async: responses do not wait, and rows still queued when the "
        "process dies are lost.",
    )
    prediction_log_max_rows: int = Field(
        default=200_000,
        ge=1,
        description="Prediction-log rows waiting to be written before scoring answers 503.",
    )
    prediction_log_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Request bytes whose rows wait to be written before scoring answers 503.",
    )
    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to bind.")
    workers: int = Field(default=1, ge=1, description="Uvicorn worker processes.")

    @model_validator(mode="after")
    def _refuse_unsafe_outside_development(self) -> Self:
        """Refuse settings that are only safe on a developer's machine."""
        if self.environment != "development":
            if self.auth_disabled:
                raise ValueError("auth_disabled is only allowed with environment='development'")
            if self.scorer_factory is not None:
                raise ValueError("scorer_factory is only allowed with environment='development'")
        return self
