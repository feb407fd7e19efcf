"""XGBoost trees as flat numpy arrays, for scoring a few rows without XGBoost's per-call overhead.

Every XGBoost call has a fixed cost before any tree is visited (a DMatrix, the prediction cache,
the array interface) that dominates scoring one row. An API request scores one to a thousand
rows: a compiled walk (numba) of each row down each tree costs a few microseconds per row
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

from berth._compile import jit

# Margin-space base score for objectives whose base_score is stored as a probability.
_LOGISTIC_OBJECTIVES = frozenset({"binary:logistic", "reg:logistic"})


class UnsupportedTreesError(ValueError):
    """The booster uses something the array evaluator does not implement (XGBoost still scores it)."""


# One node per 32-byte record: a row's path down a tree then reads one cache line per node, not one
# per field. Scoring a request is bound by those reads when the trees are not in cache (the usual
# case in a busy server): six separate arrays cost several times more there.
NODE = np.dtype(
    [
        ("feature", np.int32),  # split feature; -1 at leaves
        ("threshold", np.float32),  # go left when x < threshold
        ("left", np.int32),  # child ids, global across trees (leaves point to themselves)
        ("right", np.int32),
        ("value", np.float64),  # leaf value at leaves, expected value (cover-weighted) at splits
        ("default_left", np.bool_),  # where a missing value goes
    ],
    align=True,
)


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees of one booster as one array of :data:`NODE` records (node ids are global across trees)."""

    nodes: np.ndarray
    roots: np.ndarray  # int64 root node of each tree
    base_margin: float
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
        parts: list[np.ndarray] = []
        roots: list[int] = []
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
            part = np.zeros(n, dtype=NODE)
            part["feature"] = np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64))
            part["threshold"] = conditions.astype(np.float32)
            part["left"] = left + offset
            part["right"] = right + offset
            part["value"] = _expected_values(left, right, is_leaf, conditions, tree["sum_hessian"])
            part["default_left"] = np.asarray(tree["default_left"], dtype=bool)
            parts.append(part)
            roots.append(offset)
            offset += n
        if not trees:
            raise UnsupportedTreesError("the booster has no trees")
        if offset > np.iinfo(np.int32).max:
            raise UnsupportedTreesError(f"{offset} nodes: more than int32 node ids hold")
        return cls(
            nodes=np.concatenate(parts),
            roots=np.asarray(roots, dtype=np.int64),
            base_margin=base_margin,
            n_features=int(params["num_feature"]),
        )

    def margin(self, values: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds for logistic objectives), one per row."""
        x = self._rows(values)
        return _margins(x, self.nodes, self.roots, self.base_margin)

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Path attributions per row and feature, plus the bias as the last column; rows sum to the margin."""
        bias = self.base_margin + float(self.nodes["value"][self.roots].sum())
        x = self._rows(values)
        return _contributions(x, self.nodes, self.roots, bias)

    def _rows(self, values: np.ndarray) -> np.ndarray:
        """Rows as float32 (XGBoost compares in float32), contiguous and writable (the layout the walks
        are compiled for when the bundle is loaded and checked), against the trees' feature count."""
        x = np.require(values, np.float32, ("C", "W"))
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {x.shape}")
        return x

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
            cuts = self.nodes["threshold"][self.nodes["feature"] == j].astype(np.float64)
            if cuts.size == 0:
                continue
            picks = rng.choice(cuts, size=n_rows) + rng.choice([-1e-3, 0.0, 1e-3], size=n_rows)
            out[:, j] = picks
        out[rng.random(out.shape) < 0.15] = np.nan
        return out


# Compiled walks (numba): a few ns per node visited, where array operations over every tree at once
# cost microseconds per call. Cached on disk like the features'.
_jit = jit(nogil=True, boundscheck=False)
_inline = jit(nogil=True, boundscheck=False, inline="always")


@_inline
def _next(x: np.ndarray, row: int, nodes: np.ndarray, node: int) -> int:
    """The child a row goes to: below the threshold goes left; a missing value goes the learned way."""
    split = nodes[node]
    observed = x[row, split.feature]
    go_left = split.default_left if observed != observed else observed < split.threshold
    return split.left if go_left else split.right


@_jit
def _margins(x: np.ndarray, nodes: np.ndarray, roots: np.ndarray, base_margin: float) -> np.ndarray:
    total = np.zeros(x.shape[0])
    for root in roots:  # tree by tree, so one tree's nodes stay in cache for every row
        for row in range(x.shape[0]):
            node = root
            while nodes[node].feature >= 0:
                node = _next(x, row, nodes, node)
            total[row] += nodes[node].value
    return base_margin + total


@_jit
def _contributions(x: np.ndarray, nodes: np.ndarray, roots: np.ndarray, bias: float) -> np.ndarray:
    width = x.shape[1] + 1
    out = np.zeros((x.shape[0], width))
    for root in roots:
        for row in range(x.shape[0]):
            node = root
            while nodes[node].feature >= 0:
                child = _next(x, row, nodes, node)
                out[row, nodes[node].feature] += nodes[child].value - nodes[node].value
                node = child
    out[:, width - 1] = bias
    return out


def _expected_values(
    left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray, conditions: np.ndarray, cover: Any
) -> np.ndarray:
    """Leaf values at leaves and cover-weighted means at splits (as XGBoost's node mean values)."""
    hessian = np.asarray(cover, dtype=np.float64)
    value = np.where(is_leaf, conditions, 0.0)
    order = [0]  # breadth-first from the root: every parent before its children
    for node in order:
        if not is_leaf[node]:
            order.extend((int(left[node]), int(right[node])))
    for node in reversed(order):
        if not is_leaf[node]:
            lo, hi = left[node], right[node]
            value[node] = (value[lo] * hessian[lo] + value[hi] * hessian[hi]) / hessian[node]
    return value


def warm_up() -> None:
    """Compile the walks, or load them from numba's on-disk cache, for the argument types
    :class:`TreeEnsemble` passes (a loaded booster also compiles them when it is checked)."""
    x = np.zeros((1, 1), dtype=np.float32)
    nodes = np.zeros(1, dtype=NODE)  # one tree of one leaf
    nodes["feature"] = -1
    root = np.zeros(1, dtype=np.int64)
    _margins(x, nodes, root, 0.0)
    _contributions(x, nodes, root, 0.0)
