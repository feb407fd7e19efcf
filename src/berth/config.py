"""YAML configuration files validated by pydantic.

``configs/train.yaml`` holds a ``data`` section (:class:`DataConfig`) and the training settings;
``berth validate`` reads only the ``data`` section. Unknown keys are errors, so a typo in a config
never passes silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from berth.errors import ConfigError


class StrictModel(BaseModel):
    """Base for config models: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMapping(StrictModel):
    """Maps a user's column names to the contract's canonical names, per table ({theirs: ours})."""

    shipments: dict[str, str] = Field(default_factory=dict)
    interactions: dict[str, str] = Field(default_factory=dict)
    customers: dict[str, str] = Field(default_factory=dict)

    def for_table(self, table: str) -> dict[str, str]:
        """Return the mapping for one table."""
        return dict(getattr(self, table))


class ValidationConfig(StrictModel):
    """How strict loading is."""

    max_bad_share: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Fail when a table's quarantined share exceeds this."
    )
    future_tolerance_days: int = Field(
        default=1, ge=0, description="Dates later than the reference date plus this are rejected."
    )
    reference_date: str | None = Field(
        default=None, description="'Today' for the future-date check (YYYY-MM-DD); default: now."
    )
    orphan_policy: str = Field(
        default="quarantine",
        pattern="^(quarantine|keep)$",
        description="Rows whose customer_id is missing from a present customers table.",
    )


class DataConfig(StrictModel):
    """Where the data comes from and how it is validated."""

    columns: ColumnMapping = Field(default_factory=ColumnMapping)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)


ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing or malformed file is a :class:`ConfigError`."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def parse_config(model: type[ModelT], raw: dict[str, Any], *, source: str) -> ModelT:
    """Validate ``raw`` into ``model``, turning pydantic errors into one readable ConfigError."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from exc


def load_data_config(path: Path | None) -> DataConfig:
    """Load the ``data`` section of a config file (defaults when ``path`` is None)."""
    if path is None:
        return DataConfig()
    return parse_config(DataConfig, read_yaml(path).get("data", {}) or {}, source=str(path))
