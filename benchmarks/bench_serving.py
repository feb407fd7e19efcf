"""Serving benchmark: Berth vs `mlflow models serve` vs a no-op FastAPI endpoint, in one run.

    uv run python benchmarks/bench_serving.py [--customers 3000] [--seconds 8] [--clients 4] [--rounds 3]

All three servers run as separate processes on loopback with one uvicorn worker (a last throughput
round gives Berth and the no-op endpoint two workers each), on the same trained model; the clients
run in a fresh interpreter, not in this process (which holds the simulated book):

- Berth `POST /v1/scores`: one customer **with its history** (features, calibrated probability,
  partial churn and per-customer drivers computed in the request, prediction logged, API key checked);
- `mlflow models serve` of the same registered bundle: one row of **precomputed features** through
  the pyfunc (`/invocations`), i.e. the same booster without feature computation or drivers;
- a no-op FastAPI endpoint (same uvicorn) as the ceiling for sustained throughput.

Prints single-request p50/p99 latency (sequential, keep-alive), the time of 1,000-customer batches
(1,000 customers drawn at random: the target; the 1,000 longest histories: the worst case), sustained
requests/s with several concurrent clients (one worker each, then two workers each; Berth and the
no-op endpoint measured in interleaved rounds, the median ratio quoted), an in-process
breakdown of one request by step, and how often the path attributions behind the drivers name the
same top driver as exact TreeSHAP.

``--compare-rev REV`` adds an A/B of the server's in-process request path (decode, rules, features,
scores, drivers, response bytes; no HTTP) between this checkout and git revision ``REV``, on the
same model and bodies, in alternating fresh interpreters: on a machine whose speed drifts, only
such interleaved runs separate two versions. ``--request-path-only`` skips the servers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np

T = TypeVar("T")

NOOP_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.post("/noop")
def noop() -> dict[str, str]:
    return {"ok": "yes"}
"""


# Run in a fresh interpreter per measurement, with PYTHONPATH choosing the code under test.
REQUEST_PATH = """
import gc, sys
from pathlib import Path
from berth.api import wire
from berth.api.app import SERVING_GC_THRESHOLDS
from berth.api.holder import LoadedModel
from berth.api.routes.scores import _decode_and_score
from berth.bundle import BundleScorer, ModelBundle

gc.set_threshold(*SERVING_GC_THRESHOLDS)
gc.collect()
gc.freeze()
scorer = BundleScorer(ModelBundle.load(Path(sys.argv[1])))
model = LoadedModel(scorer, scorer.info, None)
raw, repeat = Path(sys.argv[2]).read_bytes(), int(sys.argv[3])


def request():
    body, scores = _decode_and_score(model, raw, 1000)
    fields = dict(request_id="r", model_name="m", model_version="1", as_of=body.as_of, scores=scores)
    if hasattr(wire, "encode_response"):
        return wire.encode_response(wire.ScoreResponse(**fields))
    from berth.api.schemas import ScoreResponse  # revisions before the msgspec response
    return ScoreResponse.model_construct(**fields).model_dump_json()


sys.path.insert(0, sys.argv[4])  # this benchmark's folder: the same timing helper
from bench_serving import _median_ms

print(_median_ms(request, repeat))
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} not up after {seconds} s")


def _fresh(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a fresh interpreter: the clients measure the servers, not this process, whose
    simulated book and training objects would make the clients' garbage collections slow."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _latencies(url: str, body: bytes, headers: dict[str, str], n: int) -> np.ndarray:
    """Milliseconds of ``n`` sequential requests on one keep-alive connection (after a warm-up)."""
    with httpx.Client(timeout=30) as client:
        for _ in range(20):
            client.post(url, content=body, headers=headers).raise_for_status()
        out = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            out[i] = (time.perf_counter() - t0) * 1000
    return out


def _batch_times(url: str, body: bytes, headers: dict[str, str], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` sequential requests with a large body."""
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def _server_seconds(base_url: str) -> tuple[float, float]:
    """(sum of seconds, count) of Berth's 200 responses to POST /v1/scores, from its /metrics."""
    total = count = 0.0
    for line in httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        if '"/v1/scores"' not in line or 'status="200"' not in line or 'method="POST"' not in line:
            continue
        if line.startswith("berth_http_request_duration_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("berth_http_request_duration_seconds_count"):
            count = float(line.split()[-1])
    return total, count


def _client_load(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float) -> float:
    """Requests/s that ``clients`` threads get from ``url`` in ``seconds`` (run in a fresh process)."""
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop:
                if client.post(url, content=body, headers=headers).status_code < 300:
                    counts[i] += 1
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if sum(errors):
        print(f"  ({sum(errors)} non-2xx responses at {url})")
    return sum(counts) / seconds


def _throughput(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float) -> float:
    """Sustained requests/s, the clients in a fresh interpreter."""
    return float(_fresh(_client_load, url, body, headers, clients, seconds))


Target = tuple[str, bytes, dict[str, str]]  # url, body, headers


def _interleaved_throughput(
    berth: Target, noop: Target, clients: int, seconds: float, rounds: int
) -> list[tuple[float, float]]:
    """(Berth, no-op) requests/s in ``rounds`` back-to-back pairs, the order swapped every round.

    The machine's speed drifts within minutes; a ratio of two runs taken minutes apart measures
    the drift as much as the servers. Each round's pair is a few seconds apart, and swapping who
    goes first keeps a steady drift from favouring either side.
    """
    targets = {"berth": berth, "noop": noop}
    pairs = []
    for i in range(rounds):
        order = ("berth", "noop") if i % 2 == 0 else ("noop", "berth")
        rates = {name: _throughput(*targets[name], clients, seconds) for name in order}
        pairs.append((rates["berth"], rates["noop"]))
    return pairs


def _print_throughput(label: str, pairs: list[tuple[float, float]]) -> None:
    """Each round's rates and ratio, then the median ratio (the figure to quote)."""
    for i, (berth, noop) in enumerate(pairs, start=1):
        print(f"  {label}, round {i}: berth {berth:.0f}, no-op {noop:.0f} req/s → {berth / noop:.2f}")
    median = statistics.median(berth / noop for berth, noop in pairs)
    print(f"  {label}: Berth / no-op = {median:.2f}, median of {len(pairs)} rounds (target ≥ 0.5)")


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _breakdown(bundle_folder: Path, one: bytes, batch: bytes) -> None:
    """Median in-process time of each step of POST /v1/scores (the server's own code, no HTTP).

    With the server's garbage-collector settings: this process holds the simulated book and the
    training objects, which CPython's default thresholds would scan again and again.
    """
    import gc
    from datetime import UTC, datetime

    from berth.api.app import SERVING_GC_THRESHOLDS
    from berth.api.body import decode_batch, decode_score_request
    from berth.api.convert import DecodedBatch, batch_issues, to_outputs
    from berth.api.prediction_log import PendingPredictions
    from berth.bundle import BundleScorer, ModelBundle
    from berth.features import HistoryArrays, compute_features, date_to_day
    from berth.scoring import ColumnTables

    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    gc.collect()
    gc.freeze()
    scorer = BundleScorer(ModelBundle.load(bundle_folder))
    spec, churn, params = scorer.bundle.spec, scorer.bundle.churn, scorer.bundle.btyd_params
    assert churn is not None
    print(f"\nin-process breakdown (median ms){'one customer':>20}{'1,000 at random':>18}")
    rows: dict[str, list[float]] = {}
    for raw, repeat in ((one, 300), (batch, 5)):
        body = decode_batch(raw, 1_000)
        columns = body.columns
        history = HistoryArrays.from_columns(columns)
        day = date_to_day(body.as_of)
        codes = np.arange(history.n_customers)
        matrix = compute_features(history, day, spec, codes=codes, btyd_params=params)
        scores = scorer.score(columns, body.as_of)
        outputs = to_outputs(body.customer_ids, scores)
        pending = PendingPredictions("r", "m", "1", body, outputs, datetime.now(UTC))

        def structs(raw: bytes = raw) -> object:
            return DecodedBatch.from_request(decode_score_request(raw, 1_000))

        def features(columns: ColumnTables = columns, day: int = day, codes: np.ndarray = codes) -> object:
            return compute_features(
                HistoryArrays.from_columns(columns), day, spec, codes=codes, btyd_params=params
            )

        steps: dict[str, Callable[[], object]] = {
            "decode to columns (columnar)": partial(decode_batch, raw, 1_000),
            "  same through msgspec structs": structs,
            "batch rules": partial(batch_issues, body),
            "history arrays": partial(HistoryArrays.from_columns, columns),
            "history arrays + features": features,
            "churn + drivers (trees)": partial(churn.contributions, matrix.values),
            "whole scorer": partial(scorer.score, columns, body.as_of),
            "check outputs": partial(to_outputs, body.customer_ids, scores),
            "log rows (hashes, writer thread)": pending.entries,
        }
        for label, fn in steps.items():
            rows.setdefault(label, []).append(_median_ms(fn, repeat))
    for label, (single, many) in rows.items():
        print(f"  {label:34}{single:>16.3f}{many:>18.1f}")


def _driver_agreement(bundle_folder: Path, data: object, as_of: date) -> None:
    """Share of customers whose top driver group is the same under path attributions and exact SHAP."""
    from berth.bundle import BundleScorer, ModelBundle
    from berth.features import HistoryArrays, compute_features, date_to_day

    scorer = BundleScorer(ModelBundle.load(bundle_folder))
    churn = scorer.bundle.churn
    assert churn is not None
    history = HistoryArrays.from_port_data(data)  # type: ignore[arg-type]
    bundle = scorer.bundle
    matrix = compute_features(history, date_to_day(as_of), bundle.spec, btyd_params=bundle.btyd_params)
    values = matrix.values[:1000]
    path, exact = scorer.drivers(churn.contributions(values)), scorer.drivers(churn.shap_values(values))
    pairs = list(zip(path, exact, strict=True))
    same_top = np.mean([bool(p) and bool(e) and p[0].name == e[0].name for p, e in pairs])
    same_set = np.mean([{d.name for d in p} == {d.name for d in e} for p, e in pairs])
    print(
        f"\ndrivers on {values.shape[0]} customers: path attributions name the same top driver group as "
        f"exact TreeSHAP for {same_top:.1%}, the same top-3 set for {same_set:.1%}"
    )


def _compare_revision(rev: str, work: Path, bundle: Path, bodies: dict[str, bytes], rounds: int = 3) -> None:
    """Median ms of the in-process request path, this checkout vs ``rev``, alternating interpreters."""
    here = Path(__file__).resolve().parent
    repo = here.parent
    tree = work / "baseline"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), rev], check=True)
    script = work / "request_path.py"
    script.write_text(REQUEST_PATH)
    try:
        sources = {"this checkout": repo / "src", rev: tree / "src"}
        print(f"\nin-process request path (median ms per round; {rounds} rounds, alternating)")
        for label, raw in bodies.items():
            path = work / f"body-{len(raw)}.json"
            path.write_bytes(raw)
            repeat = 300 if len(raw) < 1_000_000 else 7
            results: dict[str, list[float]] = {name: [] for name in sources}
            for _ in range(rounds):
                for name, src in sources.items():
                    out = subprocess.run(
                        [sys.executable, str(script), str(bundle), str(path), str(repeat), str(here)],
                        env={**os.environ, "PYTHONPATH": str(src)},
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    results[name].append(float(out.stdout.strip().splitlines()[-1]))
            for name, values in results.items():
                shown = ", ".join(f"{v:.3f}" if v < 10 else f"{v:.0f}" for v in values)
                print(f"  {label:28}{name:>16}: {shown}")
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], check=False)


def _two_workers(
    work: Path, env: dict[str, str], bundle: Path, key: str, one: bytes, args: argparse.Namespace
) -> None:
    """Sustained throughput of Berth and the no-op endpoint, each with two uvicorn workers."""
    ports = {"berth": _port(), "noop": _port()}
    commands = {
        "berth": [sys.executable, "-m", "berth", "serve", "--bundle", str(bundle), "--workers", "2"],
        "noop": [sys.executable, "-m", "uvicorn", "noop_app:app", "--workers", "2"],
    }
    processes = {
        name: subprocess.Popen(
            [*command, "--port", str(ports[name]), "--no-access-log"],
            env=env,
            cwd=work,
            stdout=(work / f"{name}-2.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for name, command in commands.items()
    }
    try:
        _wait(f"http://127.0.0.1:{ports['berth']}/healthz", processes["berth"])
        _wait(f"http://127.0.0.1:{ports['noop']}/docs", processes["noop"])
        pairs = _interleaved_throughput(
            (
                f"http://127.0.0.1:{ports['berth']}/v1/scores",
                one,
                {"X-API-Key": key, "Content-Type": "application/json"},
            ),
            (f"http://127.0.0.1:{ports['noop']}/noop", b"{}", {"Content-Type": "application/json"}),
            args.clients,
            args.seconds,
            args.rounds,
        )
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)
    _print_throughput("2 workers each", pairs)


def main() -> None:
    """Train a model, start the three servers, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per latency series")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in throughput runs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved Berth/no-op throughput rounds")
    parser.add_argument("--compare-rev", help="also A/B the in-process request path against this revision")
    parser.add_argument("--request-path-only", action="store_true", help="skip the servers (breakdown, A/B)")
    args = parser.parse_args()

    import pandas as pd

    from berth.api.requests import request_body
    from berth.config import ModelConfig, TrainConfig
    from berth.features import compute_features, date_to_day
    from berth.registry import export_bundle, log_and_register
    from berth.simulate import SimulationConfig, simulate_port
    from berth.tables import PortData
    from berth.training import train_churn_model

    work = Path(tempfile.mkdtemp(prefix="berth-bench-serving-"))
    os.chdir(work)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "BERTH_DATABASE_URL": f"sqlite:///{work / 'berth.db'}",
        # the bundle is this run's own export: its signature is tested elsewhere (test_signing)
        "BERTH_ALLOW_UNSIGNED_BUNDLES": "true",
    }
    os.environ.update(env)
    print(f"working in {work}")
    port_sim = simulate_port(
        SimulationConfig(n_customers=args.customers, days=730, seed=5, start=date(2024, 1, 1))
    )
    data = PortData(port_sim.shipments, port_sim.interactions, port_sim.customers)
    as_of = date(2025, 12, 30)
    config = TrainConfig(model=ModelConfig(params={"nthread": 2}))
    trained = train_churn_model(data, config, cutoff=as_of)
    history = trained.history
    assert history is not None
    registered = log_and_register(trained, config, data, history)
    bundle = export_bundle(config.model_name, work / "bundle", version=registered.version, alias=None)

    # one typical customer (median history length) and two 1,000-customer batches
    counts = data.shipments[data.shipments["shipment_date"] <= pd.Timestamp(as_of)][
        "customer_id"
    ].value_counts()
    typical = counts.index[len(counts) // 2]
    one = json.dumps(request_body(data, [typical], as_of)).encode()
    random_ids = list(np.random.default_rng(0).choice(counts.index.to_numpy(), 1000, replace=False))
    batches = {
        "1,000 customers at random": json.dumps(request_body(data, random_ids, as_of)).encode(),
        "1,000 longest histories": json.dumps(request_body(data, list(counts.index[:1000]), as_of)).encode(),
    }
    spec = trained.bundle.spec
    code = int(np.flatnonzero(history.customer_ids == typical)[0])
    features = compute_features(
        history, date_to_day(as_of), spec, codes=np.array([code]), btyd_params=trained.bundle.btyd_params
    )
    mlflow_body = json.dumps(
        {
            "dataframe_split": {
                "columns": list(spec.feature_names),
                "data": np.nan_to_num(features.values).tolist(),
            }
        }
    ).encode()
    n_ship = int(counts[typical])

    if args.request_path_only:
        _breakdown(bundle, one, batches["1,000 customers at random"])
        if args.compare_rev:
            _compare_revision(args.compare_rev, work, bundle, {"one customer": one, **batches})
        return
    subprocess.run([sys.executable, "-m", "berth", "db", "upgrade"], env=env, check=True, capture_output=True)
    key = (
        subprocess.run(
            [sys.executable, "-m", "berth", "apikey", "create", "--scope", "score"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    (work / "noop_app.py").write_text(NOOP_APP)
    ports = {"berth": _port(), "mlflow": _port(), "noop": _port()}
    logs = {name: (work / f"{name}.log").open("w") for name in ports}
    processes = {
        "berth": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "berth",
                "serve",
                "--bundle",
                str(bundle),
                "--port",
                str(ports["berth"]),
                "--no-access-log",
            ],
            env=env,
            stdout=logs["berth"],
            stderr=subprocess.STDOUT,
        ),
        "mlflow": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/{config.model_name}/{registered.version}",
                "--env-manager",
                "local",
                "-p",
                str(ports["mlflow"]),
                "-w",
                "1",
            ],
            env=env,
            stdout=logs["mlflow"],
            stderr=subprocess.STDOUT,
        ),
        "noop": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "noop_app:app",
                "--port",
                str(ports["noop"]),
                "--no-access-log",
            ],
            env=env,
            cwd=work,
            stdout=logs["noop"],
            stderr=subprocess.STDOUT,
        ),
    }
    urls = {
        "berth": f"http://127.0.0.1:{ports['berth']}/v1/scores",
        "mlflow": f"http://127.0.0.1:{ports['mlflow']}/invocations",
        "noop": f"http://127.0.0.1:{ports['noop']}/noop",
    }
    headers = {
        "berth": {"X-API-Key": key, "Content-Type": "application/json"},
        "mlflow": {"Content-Type": "application/json"},
        "noop": {"Content-Type": "application/json"},
    }
    bodies = {"berth": one, "mlflow": mlflow_body, "noop": b"{}"}
    try:
        _wait(f"http://127.0.0.1:{ports['berth']}/healthz", processes["berth"])
        _wait(f"http://127.0.0.1:{ports['mlflow']}/ping", processes["mlflow"])
        _wait(f"http://127.0.0.1:{ports['noop']}/docs", processes["noop"])
        print(
            f"\nmodel {config.model_name} v{registered.version}; one customer = {n_ship} shipments "
            f"with interactions and profile; {len(spec.feature_names)} features"
        )
        print(f"\n{'single request (sequential)':44}{'p50 ms':>9}{'p99 ms':>9}")
        results: dict[str, np.ndarray] = {}
        for name, label in (
            ("berth", "Berth /v1/scores (history → score + drivers)"),
            ("mlflow", "mlflow models serve (precomputed features)"),
            ("noop", "no-op FastAPI endpoint"),
        ):
            results[name] = _fresh(_latencies, urls[name], bodies[name], headers[name], args.requests)
            p50, p99 = np.percentile(results[name], [50, 99])
            print(f"{label:44}{p50:>9.2f}{p99:>9.2f}")
        berth_base = f"http://127.0.0.1:{ports['berth']}"
        batch_times: dict[str, list[float]] = {}
        server_ms: dict[str, float] = {}
        for label, batch in batches.items():
            before = _server_seconds(berth_base)
            batch_times[label] = _fresh(_batch_times, urls["berth"], batch, headers["berth"], 5)
            after = _server_seconds(berth_base)
            server_ms[label] = (after[0] - before[0]) / max(after[1] - before[1], 1) * 1000
        ratio = np.percentile(results["mlflow"], 50) / np.percentile(results["berth"], 50)
        print(f"\nBerth median latency is {ratio:.1f}x lower than mlflow models serve (target ≥ 3x)")
        for label, times in batch_times.items():
            size = len(batches[label]) / 1e6
            median = statistics.median(times)
            print(f"batch of {label} ({size:.0f} MB): median {median:.0f} ms over 5", end="")
            print(" (target ≤ 250 ms)" if "random" in label else " (worst case, no target)")
            # the middleware times from the headers (before the body is read) to the response
            print(f"  Berth's own time (its /metrics, headers to response): mean {server_ms[label]:.0f} ms")
        print(f"\nsustained throughput, {args.clients} clients × {args.seconds:.0f} s per run")
        pairs = _interleaved_throughput(
            *((urls[name], bodies[name], headers[name]) for name in ("berth", "noop")),
            args.clients,
            args.seconds,
            args.rounds,
        )
        _print_throughput("1 worker each", pairs)
        _two_workers(work, env, bundle, key, one, args)
        _breakdown(bundle, one, batches["1,000 customers at random"])
        _driver_agreement(bundle, data, as_of)
        if args.compare_rev:
            _compare_revision(args.compare_rev, work, bundle, {"one customer": one, **batches})
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()


if __name__ == "__main__":
    main()
