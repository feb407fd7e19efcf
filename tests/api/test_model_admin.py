"""GET /v1/model, POST /v1/admin/reload (atomic swap, failed loads) and start-up without a model."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from berth.scoring import Scorer

from .conftest import Api, MakeApi, assert_problem
from .fakes import FakeScorer
from .payloads import batch


class Loader:
    """Returns the scorers (or raises the exceptions) it is given, in turn; repeats the last one."""

    def __init__(self, *results: Scorer | Exception) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self) -> Scorer:
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        if isinstance(result, Exception):
            raise result
        return result


def test_model_info(api: Api) -> None:
    body = api.client.get("/v1/model", headers=api.headers()).json()
    assert body["name"] == "berth-churn"
    assert body["version"] == "1"
    assert body["horizon_days"] == 90
    assert body["metrics"] == {"auc": 0.81, "brier": 0.12, "undefined": None}
    assert body["extra"] == {"features": 42}
    assert body["loaded_at"]


def test_reload_swaps_the_model(make_api: MakeApi) -> None:
    api = make_api(loader=Loader(FakeScorer("1"), FakeScorer("2")))
    assert api.score().json()["model_version"] == "1"
    response = api.client.post("/v1/admin/reload", headers=api.headers(api.admin_key))
    assert response.status_code == 200
    assert response.json()["previous_version"] == "1"
    assert response.json()["model"]["version"] == "2"
    assert api.score().json()["model_version"] == "2"
    assert api.client.get("/v1/model", headers=api.headers()).json()["version"] == "2"
    metrics = api.client.get("/metrics").text
    assert 'berth_model_info{name="berth-churn",version="2"} 1.0' in metrics
    assert 'version="1"' not in metrics.split("berth_model_info")[-1].split("\n# ")[0]
    assert 'berth_model_reloads_total{result="ok"} 1.0' in metrics


def test_failed_reload_keeps_the_old_model(make_api: MakeApi) -> None:
    api = make_api(loader=Loader(FakeScorer("1"), RuntimeError("bundle hash mismatch")))
    response = api.client.post("/v1/admin/reload", headers=api.headers(api.admin_key))
    problem = assert_problem(response, 503, "reload-failed")
    assert "bundle hash mismatch" in problem["detail"]
    assert "still serving 1" in problem["detail"]
    assert problem["serving_version"] == "1"
    assert api.score().json()["model_version"] == "1"
    assert api.client.get("/readyz").status_code == 200


def test_a_model_without_version_is_refused(make_api: MakeApi) -> None:
    api = make_api(loader=Loader(FakeScorer("1"), FakeScorer("")))
    assert_problem(api.client.post("/v1/admin/reload", headers=api.headers(api.admin_key)), 503)
    assert api.score().json()["model_version"] == "1"


def test_start_without_a_model_then_reload(make_api: MakeApi) -> None:
    api = make_api(loader=Loader(FileNotFoundError("no champion alias"), FakeScorer("3")))
    assert_problem(api.client.get("/readyz"), 503, "not-ready")
    assert api.client.get("/healthz").status_code == 200
    assert_problem(api.score(), 503, "model-not-ready")
    assert_problem(api.client.get("/v1/model", headers=api.headers()), 503)
    reloaded = api.client.post("/v1/admin/reload", headers=api.headers(api.admin_key))
    assert reloaded.status_code == 200
    assert reloaded.json()["previous_version"] is None
    assert api.client.get("/readyz").json()["model_version"] == "3"
    assert api.score().status_code == 200


def test_reload_under_traffic_switches_once_without_errors(make_api: MakeApi) -> None:
    """Threads score continuously while the admin reloads: no failure, each client sees one switch."""
    old, new = FakeScorer("old", delay_s=0.002), FakeScorer("new", delay_s=0.002)
    api = make_api(loader=Loader(old, new))
    client, headers = api.client, api.headers()
    n_threads = 6
    stop = threading.Event()
    lock = threading.Lock()
    records: list[tuple[int, float, float, str]] = []  # (thread, started, finished, version)
    failures: list[str] = []

    def traffic(thread: int) -> None:
        while not stop.is_set():
            started = time.monotonic()
            response = client.post("/v1/scores", json=batch(2), headers=headers)
            finished = time.monotonic()
            with lock:
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text}")
                else:
                    records.append((thread, started, finished, response.json()["model_version"]))

    def per_thread(after: float) -> int:
        with lock:
            return min(sum(1 for r in records if r[0] == t and r[1] > after) for t in range(n_threads))

    threads = [threading.Thread(target=traffic, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: per_thread(0.0) >= 5)
    reload_started = time.monotonic()
    reload = client.post("/v1/admin/reload", headers=api.headers(api.admin_key))
    reload_finished = time.monotonic()
    _wait_for(lambda: per_thread(reload_finished) >= 5)
    stop.set()
    for thread in threads:
        thread.join(10)

    assert reload.status_code == 200
    assert failures == []
    assert {r[3] for r in records} == {"old", "new"}
    assert all(r[3] == "old" for r in records if r[2] < reload_started)
    assert all(r[3] == "new" for r in records if r[1] > reload_finished)
    for t in range(n_threads):
        versions = [r[3] for r in sorted(records) if r[0] == t]
        switches = sum(1 for a, b in itertools.pairwise(versions) if a != b)
        assert switches == 1, versions
        assert versions[0] == "old"
        assert versions[-1] == "new"
    assert api.services.writer.flush(timeout=10)
    assert api.services.store.count_predictions() == 2 * len(records)


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
