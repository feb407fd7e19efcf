"""Shared pytest set-up: determinism and a temporary working folder for MLflow and databases."""

from __future__ import annotations

import os

os.environ.setdefault("PYTHONHASHSEED", "0")
