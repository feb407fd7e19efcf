"""The serving CLI: ``berth apikey``, ``berth db upgrade`` and a real ``berth serve`` subprocess."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import structlog
from typer.testing import CliRunner

from berth.cli import app
from berth.store import Store

from .payloads import batch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI callback configures structlog on CliRunner's stderr, which is closed afterwards."""
    yield
    structlog.reset_defaults()
    logging.basicConfig(force=True)


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at a temporary SQLite database."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("BERTH_DATABASE_URL", url)
    return url


def test_db_upgrade_and_apikey_lifecycle(cli_db: str) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "up to date" in upgraded.output

    created = runner.invoke(
        app, ["apikey", "create", "--scope", "score", "--scope", "admin", "--name", "crm"]
    )
    assert created.exit_code == 0, created.output
    plaintext = created.output.strip().splitlines()[-1]
    key_id = plaintext.split(".")[0]
    store = Store(cli_db)
    try:
        record = store.verify_api_key(plaintext)
        assert record is not None
        assert record.scopes == {"score", "admin"}
        assert record.name == "crm"

        listed = runner.invoke(app, ["apikey", "list"])
        assert key_id in listed.output
        assert plaintext not in listed.output

        assert runner.invoke(app, ["apikey", "revoke", key_id]).exit_code == 0
        assert store.verify_api_key(plaintext) is None
        again = runner.invoke(app, ["apikey", "revoke", key_id])
        assert again.exit_code == 1
        assert "no active API key" in again.output
    finally:
        store.dispose()


def test_apikey_create_rejects_unknown_scopes(cli_db: str) -> None:
    result = CliRunner().invoke(app, ["apikey", "create", "--scope", "root"])
    assert result.exit_code == 2
    assert "unknown scope" in result.output


def test_serve_refuses_unsafe_settings(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_AUTH_DISABLED", "true")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "auth_disabled" in result.output


def test_serve_rejects_a_missing_bundle(cli_db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--bundle", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a folder" in re.sub(r"[\s│]+", " ", result.output)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_berth_serve_subprocess(tmp_path: Path) -> None:
    """Start ``berth serve`` on a free loopback port with the fake scorer factory (development only)."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {
        **os.environ,
        "BERTH_DATABASE_URL": url,
        "BERTH_ENVIRONMENT": "development",
        "BERTH_SCORER_FACTORY": "tests.api.fakes:make_scorer",
        "BERTH_FAKE_VERSION": "sub-1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "berth"]
    created = subprocess.run(
        [*command, "apikey", "create", "--scope", "score"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.1)
            response = client.post("/v1/scores", json=batch(2), headers={"X-API-Key": key})
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == "sub-1"
            assert response.headers["x-request-id"] == response.json()["request_id"]
            assert client.post("/v1/scores", json=batch(1)).status_code == 401
            metrics = client.get("/metrics").text
            assert 'berth_model_info{name="berth-churn",version="sub-1"} 1.0' in metrics
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    assert server.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    store = Store(url)
    try:
        assert store.count_predictions() == 2  # flushed on shutdown
    finally:
        store.dispose()
