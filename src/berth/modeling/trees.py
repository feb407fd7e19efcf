"""XGBoost trees as flat numpy arrays, for scoring a few rows without XGBoost's per-call overhead.

Every XGBoost call has a fixed cost before any tree is visited (a DMatrix, the prediction cache,
the array interface) that dominates scoring one row. An API request scores one to a few dozen
rows: walking every tree at once, level by level, as array operations costs a fraction of that
(``benchmarks/bench_serving.py`` prints the step's time). :func:`TreeEnsemble.from_booster`
reads the booster's own JSON dump and :meth:`TreeEnsemble.check_against` compares margins and
contributions with XGBoost's on probe rows, so the two cannot silently disagree.

Contributions are path attributions (Saabas; XGBoost's ``pred_contribs`` with
``approx_contribs=True``): walking a row down a tree, each split credits its feature with the
change in the node's expected value (cover-weighted mean of the leaves below). Per row they sum to
the margin, like SHAP values, at O(depth) per tree instead of O(depth²·leaves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

# Margin-space base score for objectives whose base_score is stored as a probability.
_LOGISTIC_OBJECTIVES = frozenset({"binary:logistic", "reg:logistic"})


class UnsupportedTreesError(ValueError):
    """The booster uses something the array evaluator does not implement (XGBoost still scores it)."""


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees of one booster as flat node arrays (node ids are global across trees)."""

    feature: np.ndarray  # int64, split feature per node; -1 for leaves
    threshold: np.ndarray  # float32, go left when x < threshold
    left: np.ndarray  # int64 child ids (leaves point to themselves)
    right: np.ndarray
    default_left: np.ndarray  # bool, where a missing value goes
    value: np.ndarray  # float64: leaf value at leaves, expected value (cover-weighted) at splits
    roots: np.ndarray  # int64 root node of each tree
    base_margin: float
    depth: int
    n_features: int

    @classmethod
    def from_booster(cls, booster: xgb.Booster) -> TreeEnsemble:
        """Read a tree booster's JSON dump (numerical splits, one output)."""
        learner = json.loads(booster.save_raw("json"))["learner"]
        gbm = learner["gradient_booster"]
        if gbm.get("name") != "gbtree":
            raise UnsupportedTreesError(f"booster {gbm.get('name')!r} is not gbtree")
        params = learner["learner_model_param"]
        if int(params.get("num_class", 0)) > 1 or int(params.get("num_target", 1)) > 1:
            raise UnsupportedTreesError("multi-output boosters are not supported")
        base_score = float(str(params["base_score"]).strip("[]"))
        objective = learner["objective"]["name"]
        logistic = objective in _LOGISTIC_OBJECTIVES
        base_margin = float(np.log(base_score / (1.0 - base_score))) if logistic else base_score
        trees = gbm["model"]["trees"]
        features, thresholds, lefts, rights, defaults, values, roots = [], [], [], [], [], [], []
        depth = 0
        offset = 0
        for tree in trees:
            if any(tree["split_type"]) or tree["categories"]:
                raise UnsupportedTreesError("categorical splits are not supported")
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            is_leaf = left < 0
            n = left.shape[0]
            own = np.arange(n, dtype=np.int64)
            left = np.where(is_leaf, own, left)
            right = np.where(is_leaf, own, right)
            conditions = np.asarray(tree["split_conditions"], dtype=np.float64)
            value, tree_depth = _expected_values(left, right, is_leaf, conditions, tree["sum_hessian"])
            depth = max(depth, tree_depth)
            features.append(np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64)))
            thresholds.append(conditions.astype(np.float32))
            lefts.append(left + offset)
            rights.append(right + offset)
            defaults.append(np.asarray(tree["default_left"], dtype=bool))
            values.append(value)
            roots.append(offset)
            offset += n
        if not trees:
            raise UnsupportedTreesError("the booster has no trees")
        return cls(
            feature=np.concatenate(features),
            threshold=np.concatenate(thresholds),
            left=np.concatenate(lefts),
            right=np.concatenate(rights),
            default_left=np.concatenate(defaults),
            value=np.concatenate(values),
            roots=np.asarray(roots, dtype=np.int64),
            base_margin=base_margin,
            depth=depth,
            n_features=int(params["num_feature"]),
        )

    def _walk(self, values: np.ndarray, *, contributions: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Leaf of every (row, tree) and, optionally, the path attributions per row and feature."""
        x = np.asarray(values, dtype=np.float32)
        n_rows = x.shape[0]
        node = np.broadcast_to(self.roots, (n_rows, self.roots.shape[0])).copy()
        rows = np.arange(n_rows)[:, None]
        width = self.n_features + 1
        contrib = np.zeros(n_rows * width) if contributions else None
        for _ in range(self.depth):
            feature = self.feature[node]
            split = feature >= 0
            observed = x[rows, np.maximum(feature, 0)]
            go_left = np.where(np.isnan(observed), self.default_left[node], observed < self.threshold[node])
            child = np.where(go_left, self.left[node], self.right[node])
            if contrib is not None:
                gain = self.value[child] - self.value[node]
                flat = (rows * width + feature)[split]
                contrib += np.bincount(flat, weights=gain[split], minlength=contrib.shape[0])
            node = child
        if contrib is None:
            return node, None
        out = contrib.reshape(n_rows, width)
        out[:, -1] = self.base_margin + self.value[self.roots].sum()
        return node, out

    def margin(self, values: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds for logistic objectives), one per row."""
        leaves, _ = self._walk(values, contributions=False)
        return self.base_margin + self.value[leaves].sum(axis=1)

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Path attributions per row and feature, plus the bias as the last column; rows sum to the margin."""
        _, contrib = self._walk(values, contributions=True)
        assert contrib is not None
        return contrib

    def check_against(self, booster: xgb.Booster, probe: np.ndarray, *, tolerance: float = 1e-4) -> None:
        """Raise when margins or contributions differ from XGBoost's on ``probe`` rows."""
        matrix = xgb.DMatrix(probe, missing=np.nan, nthread=1)
        expected_margin = booster.predict(matrix, output_margin=True, validate_features=False)
        expected_contrib = booster.predict(
            matrix, pred_contribs=True, approx_contribs=True, validate_features=False
        )
        margin_gap = float(np.max(np.abs(self.margin(probe) - expected_margin)))
        contrib_gap = float(np.max(np.abs(self.contributions(probe) - expected_contrib)))
        if not (margin_gap <= tolerance and contrib_gap <= tolerance):  # NaN fails too
            raise UnsupportedTreesError(
                f"array evaluator disagrees with XGBoost (margin {margin_gap:.2e}, "
                f"contributions {contrib_gap:.2e})"
            )

    def probe_rows(self, rng: np.random.Generator, n_rows: int = 64) -> np.ndarray:
        """Rows that land on both sides of the thresholds the trees use, with missing values."""
        out = np.full((n_rows, self.n_features), np.nan)
        for j in range(self.n_features):
            cuts = self.threshold[self.feature == j].astype(np.float64)
            if cuts.size == 0:
                continue
            picks = rng.choice(cuts, size=n_rows) + rng.choice([-1e-3, 0.0, 1e-3], size=n_rows)
            out[:, j] = picks
        out[rng.random(out.shape) < 0.15] = np.nan
        return out


def _expected_values(
    left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray, conditions: np.ndarray, cover: Any
) -> tuple[np.ndarray, int]:
    """Leaf values at leaves and cover-weighted means at splits (as XGBoost's node mean values); depth."""
    hessian = np.asarray(cover, dtype=np.float64)
    value = np.where(is_leaf, conditions, 0.0)
    depth_of = np.zeros(left.shape[0], dtype=np.int64)
    order = [0]  # breadth-first from the root: every parent before its children
    for node in order:
        if not is_leaf[node]:
            depth_of[left[node]] = depth_of[right[node]] = depth_of[node] + 1
            order.extend((int(left[node]), int(right[node])))
    for node in reversed(order):
        if not is_leaf[node]:
            lo, hi = left[node], right[node]
            value[node] = (value[lo] * hessian[lo] + value[hi] * hessian[hi]) / hessian[node]
    return value, int(depth_of.max())
