"""Prometheus metrics of one app instance (its own registry: no global state between apps).

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (``berth serve`` does it for
``--workers`` > 1) and ``/metrics`` aggregates every worker's samples.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from berth.scoring import ModelInfo

LATENCY_BUCKETS: Final = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
UNMATCHED_ROUTE: Final = "<unmatched>"


class Metrics:
    """Request counts and latencies by route template and status, model info, scores served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "berth_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "berth_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "berth_model_info",
            "The serving model (value 1).",
            ["name", "version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.scores_served = Counter(
            "berth_scores_served",
            "Customer scores returned, by model version.",
            ["model_version"],
            registry=self.registry,
        )
        self.prediction_log_dropped = Counter(
            "berth_prediction_log_dropped",
            "Prediction-log rows that could not be written.",
            registry=self.registry,
        )
        self.model_reloads = Counter(
            "berth_model_reloads", "Model reloads by result.", ["result"], registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and record its latency."""
        code = str(status)
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route, code).observe(seconds)

    def set_model(self, info: ModelInfo) -> None:
        """Point the model-info gauge at the serving model."""
        self.model_info.clear()
        self.model_info.labels(info.name, info.version).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
