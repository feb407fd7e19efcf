"""The model bundle: a self-contained folder of JSON and XGBoost UBJ files, and its scorer.

A bundle holds everything scoring needs — feature spec, boosters, calibrators, BG/NBD parameters,
training cutoff and horizon, validation metrics, library versions — and a manifest with the SHA-256
of every file plus a content hash over them. Loading verifies the hashes and refuses any pickle:
nothing in a bundle is ever unpickled. Training, batch scoring and the HTTP API all score through
:class:`BundleScorer`, which computes features with the same functions training used.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from berth._compile import jit
from berth.customer_value import ValueModel, ValuePrediction, predict_value
from berth.errors import BundleIntegrityError
from berth.features import (
    FeatureSpec,
    HistoryArrays,
    compute_features,
    date_to_day,
    feature_group,
    warm_up_kernels,
)
from berth.features._spec import GROUP_LABELS
from berth.modeling import btyd, trees
from berth.modeling import value as value_models
from berth.modeling.btyd import BGNBDParams
from berth.modeling.churn import ChurnClassifier
from berth.modeling.direct_value import DirectValueModel
from berth.modeling.tiers import TierClassifier, TierRule, movement_probabilities, tier_current
from berth.recommend.explain import explain_driver
from berth.scoring import ColumnTables, CustomerScore, Driver, ModelInfo
from berth.tables import CUSTOMER_ID, PortData
from berth.taxonomy import LABEL_COLUMNS, TaxonomyConfig, TaxonomyReference, classify_customers

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
_ALLOWED_SUFFIXES = {".json", ".ubj"}
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
DEFAULT_RISK_BANDS = {"medium": 0.15, "high": 0.35, "critical": 0.6}
VALUE_FIELDS = ("expected_shipments", "expected_revenue", "clv", "p_alive")
TRACKED_LIBRARIES = ("berth", "numpy", "pandas", "scikit-learn", "scipy", "xgboost", "mlflow")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def risk_band(probability: float, thresholds: Mapping[str, float]) -> str:
    """low / medium / high / critical by the bundle's thresholds."""
    band = "low"
    for name in ("medium", "high", "critical"):
        if probability >= thresholds[name]:
            band = name
    return band


@dataclass(frozen=True)
class ModelBundle:
    """A loaded (or freshly trained) bundle."""

    metadata: Mapping[str, Any]
    spec: FeatureSpec
    btyd_params: BGNBDParams | None
    churn: ChurnClassifier | None  # None: the BG/NBD fallback scores churn
    partial_churn: ChurnClassifier | None
    content_hash: str = ""
    risk_bands: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RISK_BANDS))
    tier_rule: TierRule | None = None
    tier_model: TierClassifier | None = None
    value_model: ValueModel | None = None
    taxonomy: tuple[TaxonomyConfig, TaxonomyReference] | None = None

    @property
    def model_kind(self) -> str:
        """ "xgboost" or "btyd" (the short-history fallback)."""
        return str(self.metadata.get("model_kind", "xgboost"))

    def save(self, folder: Path) -> str:
        """Write the bundle into ``folder`` (created, must be empty); return its content hash."""
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise BundleIntegrityError(f"bundle folder {folder} is not empty")
        files: dict[str, Any] = {
            "metadata.json": dict(self.metadata),
            "feature_spec.json": self.spec.to_dict(),
            "btyd.json": self.btyd_params.to_dict() if self.btyd_params else None,
            "risk_bands.json": dict(self.risk_bands),
            "tier_rule.json": self.tier_rule.to_dict() if self.tier_rule else None,
            "tier_model.json": self.tier_model.save(folder) if self.tier_model else None,
            "value_model.json": {
                **self.value_model.to_dict(),
                "direct": self.value_model.direct.save(folder) if self.value_model.direct else None,
            }
            if self.value_model
            else None,
            "taxonomy.json": {
                "config": self.taxonomy[0].model_dump(mode="json"),
                "reference": self.taxonomy[1].to_dict(),
            }
            if self.taxonomy
            else None,
        }
        for name, model in (("churn", self.churn), ("partial_churn", self.partial_churn)):
            if model is not None:
                files[f"{name}_calibration.json"] = model.save(folder / f"{name}_booster.ubj")
        for name, payload in files.items():
            (folder / name).write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
        digests = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
        content_hash = _content_hash(digests)
        manifest = {"format": BUNDLE_FORMAT, "files": digests, "content_hash": content_hash}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        return content_hash

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        """Verify and read a bundle; refuse tampered files, unknown files and pickles."""
        digests = verify_bundle(folder)
        read = lambda name: json.loads((folder / name).read_text(encoding="utf-8"))  # noqa: E731
        metadata = read("metadata.json")
        spec = FeatureSpec.from_dict(read("feature_spec.json"))
        btyd_raw = read("btyd.json")
        models: dict[str, ChurnClassifier | None] = {}
        for name in ("churn", "partial_churn"):
            booster = folder / f"{name}_booster.ubj"
            models[name] = (
                ChurnClassifier.load(booster, read(f"{name}_calibration.json"), spec.feature_names)
                if booster.exists()
                else None
            )
        optional = lambda name: read(name) if (folder / name).exists() else None  # noqa: E731
        tier_rule, tier_model = optional("tier_rule.json"), optional("tier_model.json")
        value_model, taxonomy = optional("value_model.json"), optional("taxonomy.json")
        return cls(
            metadata=metadata,
            spec=spec,
            btyd_params=BGNBDParams.from_dict(btyd_raw) if btyd_raw else None,
            churn=models["churn"],
            partial_churn=models["partial_churn"],
            content_hash=_content_hash(digests),
            risk_bands=read("risk_bands.json"),
            tier_rule=TierRule.from_dict(tier_rule) if tier_rule else None,
            tier_model=TierClassifier.load(folder, tier_model) if tier_model else None,
            value_model=_load_value_model(folder, value_model) if value_model else None,
            taxonomy=(
                TaxonomyConfig.model_validate(taxonomy["config"]),
                TaxonomyReference.from_dict(taxonomy["reference"]),
            )
            if taxonomy
            else None,
        )


def _load_value_model(folder: Path, raw: Mapping[str, Any]) -> ValueModel:
    model = ValueModel.from_dict(raw)
    direct = raw.get("direct")
    return replace(model, direct=DirectValueModel.load(folder, direct)) if direct else model


def _has_measure(history: HistoryArrays, measure: str) -> bool:
    """Whether the input can give the tier rule's measure (a revenue rule needs revenue figures)."""
    column = {"revenue": "revenue", "volume": "volume", "points": "volume"}.get(measure)
    if column is None:
        return True
    values = history.shipments.values.get(column)
    return values is not None and bool(np.isfinite(np.asarray(values, dtype=np.float64)).any())


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_hash(digests: Mapping[str, str]) -> str:
    joined = "\n".join(f"{name}:{digest}" for name, digest in sorted(digests.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


def verify_bundle(folder: Path) -> dict[str, str]:
    """Check the manifest against the files; return the verified digests."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleIntegrityError(f"{folder}: no {MANIFEST}; not a Berth model bundle")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    expected: dict[str, str] = manifest.get("files", {})
    # signature.json signs the manifest's content hash, so it is written after and checked apart
    present = {p.name for p in folder.iterdir() if p.name not in (MANIFEST, "signature.json")}
    for name in sorted(present):
        path = folder / name
        if path.suffix not in _ALLOWED_SUFFIXES or path.read_bytes()[:2] in _PICKLE_MAGIC:
            raise BundleIntegrityError(
                f"{folder}: refusing {name}: only JSON and UBJ files are allowed, never pickles"
            )
    if present != set(expected):
        raise BundleIntegrityError(
            f"{folder}: files differ from the manifest (extra: {sorted(present - set(expected))}, "
            f"missing: {sorted(set(expected) - present)})"
        )
    for name, digest in expected.items():
        if _sha256(folder / name) != digest:
            raise BundleIntegrityError(f"{folder}: {name} does not match its SHA-256 in the manifest")
    if _content_hash(expected) != manifest.get("content_hash"):
        raise BundleIntegrityError(f"{folder}: content hash mismatch")
    return expected


@dataclass(frozen=True)
class ScoredHistory:
    """Scores for the customers of one history, before they are turned into records or frames."""

    customer_ids: np.ndarray
    churn_probability: np.ndarray
    partial_churn_probability: np.ndarray
    eligible: np.ndarray
    contributions: np.ndarray | None  # (n, n_features + 1) path attributions of the churn booster
    tier_current: np.ndarray | None = None  # int8 tier codes (0 = lapsed), the bundle's tier rule
    tier_probabilities: np.ndarray | None = None  # (n, tiers) next-period tier probabilities
    value: ValuePrediction | None = None  # forecasts over the value horizon and CLV
    taxonomy: Mapping[str, list[str]] | None = None  # label columns of berth.taxonomy, by name
    features: np.ndarray | None = None  # (n, n_features) the matrix the models read, spec order

    def tier_movement(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_downgrade, p_upgrade) against the current tier; NaN without a tier model."""
        if self.tier_probabilities is None or self.tier_current is None:
            nan = np.full(self.customer_ids.shape[0], np.nan)
            return nan, nan.copy()
        return movement_probabilities(self.tier_probabilities, self.tier_current.astype(np.int64))


@jit(nogil=True, boundscheck=False)
def _top_groups(
    per_feature: np.ndarray, group_index: np.ndarray, n_groups: int, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``top`` feature groups by absolute summed contribution and their sums.

    Sums feature by feature (as ``np.add.at``); picks as a stable argsort of ``-|sum|`` would: the
    larger first, the lower group on ties, NaN after every number.
    """
    n_rows = per_feature.shape[0]
    top = min(top, n_groups)
    picked = np.empty((n_rows, top), dtype=np.int64)
    sums = np.empty((n_rows, top))
    grouped = np.empty(n_groups)
    taken = np.empty(n_groups, dtype=np.bool_)
    for row in range(n_rows):
        grouped[:] = 0.0
        taken[:] = False
        for j in range(per_feature.shape[1]):
            grouped[group_index[j]] += per_feature[row, j]
        for rank in range(top):
            best = -1
            best_key = -2.0
            for g in range(n_groups):
                if taken[g]:
                    continue
                key = abs(grouped[g])
                if key != key:
                    key = -1.0  # NaN: after every number
                if key > best_key:
                    best, best_key = g, key
            taken[best] = True
            picked[row, rank] = best
            sums[row, rank] = grouped[best]
    return picked, sums


def warm_up() -> None:
    """Compile every kernel scoring uses (features, BG/NBD, Pareto/NBD, trees, driver sums), or load them from
    numba's on-disk cache: a loaded model calls this, and the Dockerfile at build time."""
    warm_up_kernels()
    btyd.warm_up()
    value_models.warm_up()
    trees.warm_up()
    _top_groups(np.zeros((1, 1)), np.zeros(1, dtype=np.int64), 1, 3)


class BundleScorer:
    """Scores customers with a bundle; implements :class:`berth.scoring.Scorer`."""

    def __init__(self, bundle: ModelBundle, *, version: str = "local", name: str | None = None) -> None:
        self.bundle = bundle
        warm_up()  # compiled (or read from numba's cache) now, not in the first request
        meta = bundle.metadata
        self._info = ModelInfo(
            name=name or str(meta.get("model_name", "berth-churn")),
            version=version,
            trained_at=str(meta.get("trained_at", "")),
            horizon_days=int(bundle.spec.horizon_days),
            training_cutoff=str(meta.get("training_cutoff", "")),
            content_hash=bundle.content_hash,
            metrics=dict(meta.get("validation_metrics", {})),
            extra={
                "model_kind": bundle.model_kind,
                "models": dict(meta.get("model_metrics", {})),
                "tier_rule": bundle.tier_rule.to_dict() if bundle.tier_rule else None,
                "value_model": dict(meta.get("value_model", {})),
            },
        )
        names = bundle.spec.feature_names
        groups = [feature_group(n) for n in names]
        group_names = sorted(set(groups))
        self._group_index = np.array([group_names.index(g) for g in groups], dtype=np.int64)
        self._group_labels = [(g, *GROUP_LABELS[g]) for g in group_names]  # name, English, Chinese

    @property
    def info(self) -> ModelInfo:
        """Name, version and validation metrics of the model."""
        return self._info

    def score_history(
        self,
        history: HistoryArrays,
        as_of: date,
        *,
        with_drivers: bool,
        value_horizon_days: int | None = None,
    ) -> ScoredHistory:
        """Scores of every customer with a shipment on or before ``as_of``."""
        bundle = self.bundle
        day = date_to_day(as_of)
        ships = history.shipments
        codes = np.arange(history.n_customers, dtype=np.int64)
        lookback = bundle.spec.lookback_days
        edges = ships.window_bounds(codes, day, (0, lookback))
        scored = edges[0] > ships.starts(codes)  # a shipment on or before as_of
        codes = codes[scored]
        eligible = (edges[0] > edges[lookback])[scored]
        matrix = compute_features(history, day, bundle.spec, codes=codes, btyd_params=bundle.btyd_params)
        fallback = self._btyd_probability(matrix.values)
        contributions = None
        if bundle.churn is not None:
            if with_drivers and codes.shape[0]:
                # Attributions sum to the log-odds: they give the probability too, in one pass.
                contributions = bundle.churn.contributions(matrix.values)
                churn = bundle.churn.probability_from_contributions(contributions)
            else:
                churn = bundle.churn.predict_proba(matrix.values)
        else:
            churn = fallback
        # Outside the lookback window the trees never saw such customers; BG/NBD still applies.
        churn = np.where(eligible | ~np.isfinite(fallback), churn, fallback)
        partial = (
            bundle.partial_churn.predict_proba(matrix.values)
            if bundle.partial_churn is not None
            else np.full(codes.shape[0], np.nan)
        )
        partial = np.maximum(partial, churn)  # a full stop is also a partial one
        current, tiers = self._tiers(history, codes, day, matrix.values, eligible, churn)
        return ScoredHistory(
            customer_ids=history.customer_ids[codes],
            churn_probability=churn,
            partial_churn_probability=partial,
            eligible=eligible,
            contributions=contributions,
            tier_current=current,
            tier_probabilities=tiers,
            value=predict_value(
                bundle.value_model,
                history,
                codes,
                day,
                horizon_days=value_horizon_days,
                features=matrix.values,
                modelled=eligible,
            )
            if bundle.value_model is not None
            else None,
            taxonomy=self._taxonomy(history, codes, day),
            features=matrix.values,
        )

    def _taxonomy(self, history: HistoryArrays, codes: np.ndarray, day: int) -> dict[str, list[str]] | None:
        if self.bundle.taxonomy is None:
            return None
        config, reference = self.bundle.taxonomy
        frame = classify_customers(history, codes, day, reference, config)
        return {name: frame[name].astype(str).tolist() for name in LABEL_COLUMNS}

    def _tiers(
        self,
        history: HistoryArrays,
        codes: np.ndarray,
        day: int,
        values: np.ndarray,
        eligible: np.ndarray,
        churn: np.ndarray,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Current tier codes and next-period tier probabilities (None without a rule / model).

        Customers outside the lookback window were never seen by the tier model: they stay lapsed
        with the churn probability and otherwise return to the lowest tier.
        """
        rule, model = self.bundle.tier_rule, self.bundle.tier_model
        if rule is None or not _has_measure(history, rule.measure):
            return None, None
        current = tier_current(history, codes, day, rule)
        if model is None or not codes.shape[0]:
            return current, None
        probabilities = model.predict_proba(values)
        if not eligible.all():
            dormant = ~eligible
            p_lapsed = np.clip(np.nan_to_num(churn[dormant], nan=1.0), 0.0, 1.0)
            probabilities[dormant] = 0.0
            probabilities[dormant, 0] = p_lapsed
            probabilities[dormant, 1] = 1.0 - p_lapsed
        return current, probabilities

    def _btyd_probability(self, values: np.ndarray) -> np.ndarray:
        names = self.bundle.spec.feature_names
        if "btyd_p_no_shipment_h" in names:
            return values[:, names.index("btyd_p_no_shipment_h")]
        return np.full(values.shape[0], np.nan)

    def drivers(self, contributions: np.ndarray, top: int = 3) -> list[tuple[Driver, ...]]:
        """Top feature groups by absolute contribution to each customer's churn log-odds."""
        per_feature = np.require(contributions[:, :-1], np.float64, ("C", "W"))
        if per_feature.shape[1] != self._group_index.shape[0]:
            raise ValueError(
                f"expected {self._group_index.shape[0]} feature contributions, got {per_feature.shape[1]}"
            )
        order, picked = _top_groups(per_feature, self._group_index, len(self._group_labels), top)
        labels = self._group_labels
        return [
            tuple(
                Driver(
                    name=labels[j][0], contribution=round(v, 4), label_en=labels[j][1], label_zh=labels[j][2]
                )
                for j, v in zip(row_order, row_values, strict=True)
                if v != 0.0
            )
            for row_order, row_values in zip(order.tolist(), picked.tolist(), strict=True)
        ]

    def score(self, tables: ColumnTables, as_of: date, *, lang: str | None = None) -> list[CustomerScore]:
        """Score customers given as plain columns (the HTTP API's shape); with ``lang``, each driver
        carries its sentence (:func:`berth.recommend.explain.explain_driver`)."""
        history = HistoryArrays.from_columns(tables)
        scored = self.score_history(history, as_of, with_drivers=True)
        drivers = self.drivers(scored.contributions) if scored.contributions is not None else None
        if drivers is not None and lang is not None and scored.features is not None:
            drivers = self._with_sentences(drivers, scored.features, lang)
        tiers = self.tier_columns(scored)
        value = self.value_columns(scored)
        labels = self.taxonomy_columns(scored)
        results = []
        for i, customer_id in enumerate(scored.customer_ids):
            probability = float(scored.churn_probability[i])
            partial = float(scored.partial_churn_probability[i])
            extra: dict[str, Any] = {name: _finite_or_none(column[i]) for name, column in value.items()}
            extra.update({name: column[i] for name, column in labels.items()})
            results.append(
                CustomerScore(
                    customer_id=str(customer_id),
                    churn_probability=probability,
                    risk_band=risk_band(probability, self.bundle.risk_bands),
                    partial_churn_probability=partial if np.isfinite(partial) else None,
                    drivers=drivers[i] if drivers is not None else (),
                    eligible=bool(scored.eligible[i]),
                    note=None
                    if scored.eligible[i]
                    else f"no shipment in the last {self.bundle.spec.lookback_days} days: "
                    "probability from the BG/NBD model",
                    tier_current=tiers["tier_current"][i],
                    tier_expected=tiers["tier_expected"][i],
                    tier_probabilities=tiers["tier_probabilities"][i],
                    p_downgrade=_finite_or_none(tiers["p_downgrade"][i]),
                    p_upgrade=_finite_or_none(tiers["p_upgrade"][i]),
                    **extra,
                )
            )
        return results

    def _with_sentences(
        self, drivers: list[tuple[Driver, ...]], features: np.ndarray, lang: str
    ) -> list[tuple[Driver, ...]]:
        names = self.bundle.spec.feature_names
        horizon = self.bundle.spec.horizon_days
        out = []
        for row, values in zip(drivers, features.tolist(), strict=True):
            figures = dict(zip(names, values, strict=True)) if row else {}
            out.append(
                tuple(
                    replace(d, sentence=explain_driver(d.name, figures, lang, horizon_days=horizon))
                    for d in row
                )
            )
        return out

    def tier_columns(self, scored: ScoredHistory, *, as_json: bool = False) -> dict[str, list[Any]]:
        """Per customer: tier_current, tier_expected, tier_probabilities (a mapping, or JSON text
        for a flat file), p_downgrade and p_upgrade; None where the bundle has no tier rule/model."""
        n = scored.customer_ids.shape[0]
        rule = self.bundle.tier_rule
        labels = rule.labels if rule is not None else ()
        current = (
            [labels[c] for c in scored.tier_current.tolist()]
            if scored.tier_current is not None
            else [None] * n
        )
        down, up = scored.tier_movement()
        if scored.tier_probabilities is None:
            expected: list[Any] = [None] * n
            probabilities: list[Any] = [None] * n
        else:
            rounded = np.round(scored.tier_probabilities, 6).tolist()
            expected = [labels[j] for j in scored.tier_probabilities.argmax(axis=1).tolist()]
            probabilities = [dict(zip(labels, row, strict=True)) for row in rounded]
            if as_json:
                probabilities = [json.dumps(p) for p in probabilities]
        return {
            "tier_current": current,
            "tier_expected": expected,
            "tier_probabilities": probabilities,
            "p_downgrade": down.tolist(),
            "p_upgrade": up.tolist(),
        }

    @staticmethod
    def value_columns(scored: ScoredHistory) -> dict[str, np.ndarray]:
        """Per customer: expected_shipments, expected_revenue, clv and p_alive (NaN when unknown)."""
        value = scored.value
        if value is None:
            n = scored.customer_ids.shape[0]
            return {name: np.full(n, np.nan) for name in VALUE_FIELDS}
        return {
            "expected_shipments": value.expected_shipments,
            "expected_revenue": value.expected_revenue,
            "clv": value.clv,
            "p_alive": value.p_alive,
        }

    @staticmethod
    def taxonomy_columns(scored: ScoredHistory) -> dict[str, list[Any]]:
        """Per customer: activity_state, loyalty_form, abc_class, relationship_level, upgrade_stage."""
        if scored.taxonomy is None:
            return {name: [None] * scored.customer_ids.shape[0] for name in LABEL_COLUMNS}
        return dict(scored.taxonomy)

    def score_frame(
        self,
        data: PortData,
        as_of: date,
        *,
        eligible_only: bool = True,
        value_horizon_days: int | None = None,
    ) -> pd.DataFrame:
        """Batch scores as a DataFrame (``berth score``): one row per (eligible) customer."""
        history = HistoryArrays.from_port_data(data)
        scored = self.score_history(history, as_of, with_drivers=True, value_horizon_days=value_horizon_days)
        probability = scored.churn_probability
        n = scored.customer_ids.shape[0]
        drivers = self.drivers(scored.contributions) if scored.contributions is not None else [()] * n
        driver_columns: dict[str, list[Any]] = {}
        for k in range(3):  # the top three driver groups, as the API gives them
            driver_columns[f"driver_{k + 1}"] = [row[k].name if len(row) > k else None for row in drivers]
            driver_columns[f"driver_{k + 1}_contribution"] = [
                row[k].contribution if len(row) > k else None for row in drivers
            ]
        frame = pd.DataFrame(
            {
                CUSTOMER_ID: scored.customer_ids.astype(str),
                "as_of": pd.Timestamp(as_of),
                "churn_probability": probability,
                "partial_churn_probability": scored.partial_churn_probability,
                "risk_band": [risk_band(float(p), self.bundle.risk_bands) for p in probability],
                "eligible": scored.eligible,
                **self.tier_columns(scored, as_json=True),
                **self.value_columns(scored),
                **self.taxonomy_columns(scored),
                **driver_columns,
                "model_name": self._info.name,
                "model_version": self._info.version,
            }
        )
        if eligible_only:
            frame = frame[frame["eligible"]].reset_index(drop=True)
        return frame.sort_values("churn_probability", ascending=False, kind="stable").reset_index(drop=True)
