"""The base of every validated config model (kept below config.py so capability modules that
define their own settings, such as :mod:`berth.taxonomy`, can import it without a cycle)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for config models: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
