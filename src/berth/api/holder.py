"""Holds the serving model and swaps it atomically on reload.

A request takes one :class:`LoadedModel` snapshot at its start and uses it to the end, so a
reload never mixes two models inside one response. Loads are serialised; the swap itself is a
reference assignment under a lock. When a load fails the previous model keeps serving.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from berth._logging import get_logger
from berth.api.errors import ModelLoadError
from berth.errors import ModelNotReadyError
from berth.scoring import ModelInfo, Scorer

ScorerLoader = Callable[[], Scorer]

log = get_logger(__name__)

_MAX_REASON = 500


@dataclass(frozen=True)
class LoadedModel:
    """A scorer with the info it reported when loaded."""

    scorer: Scorer
    info: ModelInfo
    loaded_at: datetime


def _check_info(info: ModelInfo) -> None:
    if not info.name or not info.version:
        raise ValueError("the model reports no name or version")
    bad = [k for k, v in info.metrics.items() if not isinstance(v, int | float)]
    if bad:
        raise ValueError(f"non-numeric metrics {bad}")


class ModelHolder:
    """The current model; ``load`` replaces it, ``require`` returns a snapshot or raises."""

    def __init__(self, loader: ScorerLoader, on_swap: Callable[[LoadedModel], None] | None = None) -> None:
        self._loader = loader
        self._on_swap = on_swap
        self._current: LoadedModel | None = None
        self._swap_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedModel | None:
        """The serving model, or None before the first successful load."""
        return self._current

    def require(self) -> LoadedModel:
        """The serving model; :class:`ModelNotReadyError` when none is loaded."""
        current = self._current
        if current is None:
            raise ModelNotReadyError("no model is loaded")
        return current

    def load(self) -> LoadedModel:
        """Call the loader and swap the new model in; on failure keep the old one and raise."""
        with self._load_lock:
            try:
                scorer = self._loader()
                info = scorer.info
                _check_info(info)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
                self.last_error = reason
                log.error("model load failed", reason=reason)
                raise ModelLoadError(reason) from exc
            loaded = LoadedModel(scorer, info, datetime.now(UTC))
            with self._swap_lock:
                self._current = loaded
            self.last_error = None
            log.info("model loaded", name=info.name, version=info.version)
            if self._on_swap is not None:
                self._on_swap(loaded)
            return loaded


def finite_metrics(info: ModelInfo) -> dict[str, float | None]:
    """Metrics with NaN and infinities as None (JSON has no NaN)."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in info.metrics.items()}
