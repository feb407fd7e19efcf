"""The one command line: ``berth simulate | validate | train | score | export | serve | apikey``.

Exit codes: 0 success; 2 usage, configuration or data-contract errors; 1 anything else.
Errors print one readable line (file, column, reason), never a stack trace; ``--debug`` shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from berth.errors import BerthError, ConfigError, DataContractError

app = typer.Typer(
    name="berth",
    help="Churn and loyalty modeling for ports and freight carriers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_USAGE = 2
EXIT_FAILURE = 1


def _handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Berth errors into one line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (DataContractError, ConfigError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except BerthError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from None


@app.callback()
def main(
    log_level: Annotated[str, typer.Option(help="Log level (DEBUG, INFO, WARNING).")] = "WARNING",
    log_json: Annotated[bool, typer.Option(help="Write logs as JSON lines.")] = False,
) -> None:
    """Churn and loyalty modeling for ports and freight carriers."""
    from berth._logging import configure_logging

    configure_logging(log_level, json=log_json)


@app.command()
@_handle_errors
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write the tables and truth.csv into.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 2_000,
    days: Annotated[int, typer.Option(min=30, help="Days of history.")] = 730,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the history (YYYY-MM-DD).")] = "2024-01-01",
    file_format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", case_sensitive=False)
    ] = "csv",
) -> None:
    """Simulate a port's customers, shipments and interactions, with ground truth."""
    from berth.simulate import SimulationConfig, simulate_port, write_simulation

    start_date = _parse_date(start, "--start")
    assert start_date is not None
    if file_format.lower() not in {"csv", "parquet"}:
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")
    config = SimulationConfig(n_customers=customers, days=days, seed=seed, start=start_date)
    port = simulate_port(config, progress=True)
    written = write_simulation(port, out, file_format=file_format.lower())
    console.print(
        f"Simulated {customers:,} customers over {days} days: "
        f"{len(port.shipments):,} shipments, {len(port.interactions):,} interactions."
    )
    for path in written:
        console.print(f"  wrote {path}")


@app.command()
@_handle_errors
def validate(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    config: Annotated[Path | None, typer.Option(help="YAML config with a data section.")] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where to write quarantined rows (default DATA/quarantine.csv).")
    ] = None,
) -> None:
    """Validate a data folder: print the summary and write quarantined rows with their reasons."""
    from berth.config import load_data_config
    from berth.io import load_port_data

    result = load_port_data(data, load_data_config(config))
    console.print(result.report.render())
    target = quarantine if quarantine is not None else data / "quarantine.csv"
    written = result.write_quarantine(target)
    if written is not None:
        console.print(f"Quarantined rows written to {written}")
    else:
        console.print("No rows quarantined.")


def run() -> Any:
    """Entry point used by ``python -m berth``."""
    return app()
