"""A real `berth serve` process on a free loopback port, serving a freshly trained bundle."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest

from berth.api.requests import request_body
from berth.config import ModelConfig, TrainConfig
from berth.signing import create_keypair, sign_bundle
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData
from berth.training import train_churn_model

AS_OF = date(2025, 8, 31)


@dataclass(frozen=True)
class LiveServer:
    """A running server and what a client needs to call it."""

    url: str
    api_key: str
    env: dict[str, str]
    database_url: str
    bodies: list[dict[str, object]]
    bundle: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _berth(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "berth", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("live")
    port_sim = simulate_port(SimulationConfig(n_customers=600, days=610, seed=21, start=date(2024, 1, 1)))
    data = PortData(port_sim.shipments, port_sim.interactions, port_sim.customers)
    config = TrainConfig(min_training_rows=100, model=ModelConfig(num_boost_round=80, params={"nthread": 1}))
    trained = train_churn_model(data, config, cutoff=AS_OF)
    bundle = folder / "bundle"
    trained.bundle.save(bundle)
    private_key, public_key = create_keypair(folder / "keys")
    sign_bundle(bundle, private_key)  # production serving refuses unsigned bundles
    customers = list(data.shipments["customer_id"].drop_duplicates()[:40])
    bodies = [request_body(data, [cid], AS_OF) for cid in customers]
    bodies = [b for b in bodies if b["customers"]]

    database_url = f"sqlite:///{folder / 'berth.db'}"
    env = {
        **os.environ,
        "BERTH_DATABASE_URL": database_url,
        "BERTH_ENVIRONMENT": "production",
        "BERTH_BUNDLE_PUBLIC_KEYS": str(public_key),
    }
    env.pop("BERTH_AUTH_DISABLED", None)
    _berth("db", "upgrade", env=env)
    api_key = _berth("apikey", "create", "--scope", "score", "--scope", "admin", "--name", "tests", env=env)
    api_key = api_key.strip().splitlines()[-1]
    port = _free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "berth",
            "serve",
            "--bundle",
            str(bundle),
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"berth serve did not become ready: {(folder / 'server.log').read_text()}")
            time.sleep(0.2)
        yield LiveServer(url, api_key, env, database_url, bodies, bundle)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def write_bodies(server: LiveServer, path: Path) -> Path:
    """The request bodies as a JSON file for locust."""
    path.write_text(json.dumps(server.bodies), encoding="utf-8")
    return path
