"""Speed of ``berth ingest``: a simulated data folder into the customer history store.

Simulates ``--customers`` customers (Parquet), then for SQLite (a temporary file) and, when
``--postgres URL`` (or BERTH_TEST_DATABASE_URL) is given, PostgreSQL (a throw-away schema), prints
the seconds and events/s (shipments + interactions per second) of storing the validated tables
into an empty store, of that plus validation (``load_port_data``), and of ``berth ingest``'s
second run over the same folder (validation + nothing new stored).
Figures only, no asserts.

    uv run python benchmarks/bench_ingest.py [--customers 10000] [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from berth.config import load_data_config
from berth.history import HistoryStore
from berth.ingest import ingest_folder
from berth.io import load_port_data
from berth.simulate import SimulationConfig, simulate_port, write_simulation
from berth.store import Store, upgrade

REFERENCE = date(2026, 1, 1)


def _run(url: str, folder: Path, label: str) -> None:
    upgrade(url)
    store = Store(url)
    try:
        history = HistoryStore(store.engine)
        config = load_data_config(None)
        started = time.perf_counter()
        loaded = load_port_data(folder, config, reference_date=REFERENCE)
        validate_s = time.perf_counter() - started
        data = loaded.data
        events = len(data.shipments) + (0 if data.interactions is None else len(data.interactions))
        started = time.perf_counter()
        first = history.store_port_data(data)
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        second = ingest_folder(folder, config, history, reference_date=REFERENCE)
        again_s = time.perf_counter() - started
        total = validate_s + store_s
        print(
            f"{label:10s} {events:,} events | store {store_s:5.2f} s = {events / store_s:,.0f} events/s "
            f"(stored {first.events_new:,}) | with validation {total:5.2f} s = {events / total:,.0f} "
            f"events/s | ingest again {again_s:5.2f} s, {second.counts.events_new} new"
        )
    finally:
        store.dispose()


def main() -> None:
    """Simulate, then ingest into each database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("BERTH_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        port = simulate_port(
            SimulationConfig(n_customers=args.customers, days=730, seed=0, start=date(2024, 1, 1))
        )
        write_simulation(port, folder, file_format="parquet")
        print(
            f"{args.customers:,} simulated customers: {len(port.shipments):,} shipments, "
            f"{len(port.interactions):,} interactions"
        )
        _run(f"sqlite:///{Path(tmp) / 'bench.db'}", folder, "sqlite")
        if args.postgres:
            schema = f"berth_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(args.postgres)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                url = make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"})
                _run(url.render_as_string(hide_password=False), folder, "postgresql")
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
