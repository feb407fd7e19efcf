"""YAML configuration files validated by pydantic.

``configs/train.yaml`` holds a ``data`` section (:class:`DataConfig`) and the training settings;
``berth validate`` reads only the ``data`` section. Unknown keys are errors, so a typo in a config
never passes silently.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from berth._config_base import StrictModel
from berth.errors import ConfigError
from berth.taxonomy import TaxonomyConfig


class ColumnMapping(StrictModel):
    """Maps a user's column names to the contract's canonical names, per table ({theirs: ours})."""

    shipments: dict[str, str] = Field(default_factory=dict)
    interactions: dict[str, str] = Field(default_factory=dict)
    customers: dict[str, str] = Field(default_factory=dict)

    def for_table(self, table: str) -> dict[str, str]:
        """Return the mapping for one table."""
        return dict(getattr(self, table))


class TableFiles(StrictModel):
    """Which file of the data folder holds each table: a name or a glob, relative to the folder.

    Unset: ``<table>.csv`` or ``<table>.parquet`` (any case). A glob that matches several files
    (``transactions_*.csv``) reads them all, in name order, as one table.
    """

    shipments: str | None = None
    interactions: str | None = None
    customers: str | None = None

    @model_validator(mode="after")
    def _relative(self) -> TableFiles:
        for table in ("shipments", "interactions", "customers"):
            pattern = getattr(self, table)
            if pattern is None:
                continue
            path = Path(pattern)
            if not pattern.strip() or path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{table}: {pattern!r} must be a file name or glob inside the data folder")
        return self

    def for_table(self, table: str) -> str | None:
        """The configured name or glob of one table (None: the default names)."""
        pattern: str | None = getattr(self, table)
        return pattern


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

    tables: TableFiles = Field(default_factory=TableFiles)
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


class SplitConfig(StrictModel):
    """How labelled cutoffs are split by time (never at random)."""

    validation_cutoffs: int = Field(
        default=3,
        ge=1,
        description="Latest labelled cutoffs held out for validation; the served predictor is chosen "
        "over all of them, each reported on its own (berth.churn_selection).",
    )
    calibration_cutoffs: int = Field(
        default=2, ge=1, description="Cutoffs before those, for early stopping and calibration."
    )
    embargo: bool = Field(
        default=True,
        description="Drop earlier cutoffs whose label window overlaps a later slice's cutoff "
        "(c + horizon > next slice's first cutoff), so no label peeks past a later cutoff.",
    )


class ModelConfig(StrictModel):
    """Gradient-boosted trees and calibration."""

    num_boost_round: int = Field(default=400, ge=10)
    early_stopping_rounds: int = Field(default=40, ge=5)
    # Platt by default: as good a Brier score as isotonic or better on every simulated book measured,
    # and no flat steps (benchmarks/bench_score_tails.py, docs/modeling.md)
    calibration: str = Field(default="platt", pattern="^(isotonic|platt|identity)$")
    params: dict[str, float | int | str] = Field(default_factory=dict)


class PointsConfig(StrictModel):
    """A port programme's points: per unit of volume, plus per survey point the customer gave."""

    per_volume_unit: float = Field(default=1.0, ge=0)
    per_survey_point: float = Field(
        default=0.0, ge=0, description="Points per survey score point received in the period."
    )


class TierConfig(StrictModel):
    """How tiers are defined and modelled (``tiers:`` in configs/train.yaml)."""

    measure: Literal["auto", "revenue", "volume", "shipments", "points"] = Field(
        default="auto",
        description="auto: revenue when the data has it, else volume, else shipment count.",
    )
    names: tuple[Annotated[str, Field(min_length=1, max_length=32)], ...] = Field(
        default=("bronze", "silver", "gold", "platinum"), description="Tiers, lowest first."
    )
    method: Literal["quantile", "absolute"] = "quantile"
    quantiles: tuple[float, ...] = Field(
        default=(0.5, 0.8, 0.95),
        description="Lower edge of each tier above the first, as a quantile of the measure among "
        "customers who shipped in the period (default: top 5% platinum, next 15% gold, next 30% "
        "silver, the rest bronze).",
    )
    thresholds: tuple[float, ...] | None = Field(
        default=None, description="Absolute lower edges (method: absolute), same count as quantiles."
    )
    points: PointsConfig = Field(default_factory=PointsConfig)
    model: Literal["auto", "softprob", "cumulative"] = Field(
        default="cumulative",
        description="cumulative: one booster per tier edge; softprob: one multi-class booster; auto: "
        "both, the lower calibration RPS kept (cumulative won on every book measured: docs/loyalty.md).",
    )
    max_training_rows: int = Field(
        default=150_000, ge=1_000, description="Training rows sampled for the tier boosters."
    )

    @model_validator(mode="after")
    def _edges_match_names(self) -> TierConfig:
        if len(self.names) < 2 or "lapsed" in self.names or len(set(self.names)) != len(self.names):
            raise ValueError("names: at least two distinct tiers, none called 'lapsed'")
        edges = self.thresholds if self.method == "absolute" else self.quantiles
        if edges is None:
            raise ValueError("thresholds: required when method is absolute")
        if len(edges) != len(self.names) - 1:
            raise ValueError(
                f"need {len(self.names) - 1} edges for {len(self.names)} tiers, got {len(edges)}"
            )
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("edges must increase")
        if self.method == "quantile" and not all(0 < q < 1 for q in edges):
            raise ValueError("quantiles must lie in (0, 1)")
        return self


class ValueConfig(StrictModel):
    """Customer value: occasion models, revenue per occasion, discounted CLV (``value:``)."""

    horizon_days: int = Field(
        default=365, ge=28, description="expected_shipments / expected_revenue cover this many days."
    )
    occasion_model: Literal["auto", "bgnbd", "pareto_nbd"] = Field(
        default="auto", description="auto: the lower per-customer error on the run's holdout."
    )
    annual_discount_rate: float = Field(default=0.10, gt=-1.0, le=1.0)
    margin_share: float = Field(
        default=0.25, ge=-1.0, le=1.0, description="Margin on revenue when the data has no cost column."
    )
    clv_horizon_days: int = Field(default=1092, ge=28, description="CLV covers this many days.")
    clv_step_days: int = Field(default=28, ge=1, description="CLV discounts at the end of each step.")
    min_calibration_days: int = Field(
        default=90, ge=28, description="History needed before the holdout for the holdout check."
    )
    revenue_model: Literal["auto", "btyd", "direct", "corrected"] = Field(
        default="auto",
        description="expected_revenue from BTYD × Gamma-Gamma, a direct boosted model of next-period "
        "revenue, or BTYD corrected by it; auto: the lowest holdout error.",
    )
    direct_cutoffs: int = Field(
        default=4, ge=2, description="Cutoffs whose next value horizon trains the direct model."
    )
    direct_step_days: int = Field(default=30, ge=7, description="Days between those cutoffs.")

    @model_validator(mode="after")
    def _whole_steps(self) -> ValueConfig:
        if self.clv_horizon_days % self.clv_step_days:
            raise ValueError(
                f"clv_horizon_days ({self.clv_horizon_days}) must be a whole number of "
                f"clv_step_days ({self.clv_step_days})"
            )
        return self


class TrainConfig(StrictModel):
    """Everything ``berth train`` needs besides the data folder."""

    model_name: str = "berth-churn"
    project: str | None = Field(
        default=None,
        max_length=100,
        description="The data source's name; berth train defaults it to the data folder's name. A "
        "champion is only ever compared with models of the same project and table schema.",
    )
    horizon_days: int = Field(default=90, ge=7, le=730)
    lookback_days: int = Field(
        default=365, ge=30, description="Eligible: a shipment in this window before the cutoff."
    )
    cutoff_step_days: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto",
        description="Days between labelled cutoffs; auto: 28, 14 or 7, the longest that still gives "
        "max_cutoffs training cutoffs (berth.cutoff_plan).",
    )
    min_history_days: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default="auto",
        description="First cutoff this many days after the data starts; auto: a quarter of the "
        "labelled span, 4 to 26 weeks.",
    )
    max_cutoffs: int = Field(default=12, ge=3)
    partial_churn_share: float = Field(default=0.5, gt=0, lt=1)
    on_time_threshold_hours: float = Field(default=24.0, ge=0)
    min_training_rows: int = Field(
        default=500, ge=10, description="Fewer labelled rows: fall back to BG/NBD."
    )
    min_training_positives: int = Field(default=25, ge=1)
    seed: int = 0
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    risk_bands: dict[str, float] = Field(
        default_factory=lambda: {"medium": 0.15, "high": 0.35, "critical": 0.6}
    )
    data: DataConfig = Field(default_factory=DataConfig)
    tiers: TierConfig = Field(default_factory=TierConfig)
    value: ValueConfig = Field(default_factory=ValueConfig)
    taxonomy: TaxonomyConfig = Field(default_factory=TaxonomyConfig)


def load_train_config(path: Path | None) -> TrainConfig:
    """Load ``configs/train.yaml`` (defaults when ``path`` is None)."""
    if path is None:
        return TrainConfig()
    return parse_config(TrainConfig, read_yaml(path), source=str(path))
