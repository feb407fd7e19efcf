"""The one command line: ``berth simulate | validate | ingest | train | score | export | serve | apikey``.

Exit codes: 0 success; 2 usage, configuration or data-contract errors; 1 anything else.
Errors print one readable line (file, column, reason), never a stack trace; ``--debug`` shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from berth.errors import BerthError, ConfigError, DataContractError

if TYPE_CHECKING:
    from berth.store import Store

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
    actions: Annotated[
        Path | None,
        typer.Option(
            help="Retention actions to apply: a berth plan CSV (treatment rows, from the day after its "
            "as_of) or a CSV of customer_id, action, start_date; true effects in docs/simulator.md."
        ),
    ] = None,
) -> None:
    """Simulate a port's customers, shipments and interactions, with ground truth."""
    import pandas as pd

    from berth.simulate import SimulationConfig, simulate_port, write_simulation

    start_date = _parse_date(start, "--start")
    assert start_date is not None
    if file_format.lower() not in {"csv", "parquet"}:
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")
    config = SimulationConfig(n_customers=customers, days=days, seed=seed, start=start_date)
    applied = None
    if actions is not None:
        applied = pd.read_csv(actions, dtype={"customer_id": str})
        if "group" in applied.columns:
            applied = applied[applied["group"] == "treatment"]
        if "start_date" not in applied.columns and "as_of" in applied.columns:
            applied = applied.assign(start_date=pd.to_datetime(applied["as_of"]) + pd.Timedelta(days=1))
        missing = {"customer_id", "action", "start_date"} - set(applied.columns)
        if missing:
            raise typer.BadParameter(
                f"missing column(s) {', '.join(sorted(missing))}", param_hint="--actions"
            )
    try:
        port = simulate_port(config, progress=True, actions=applied)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--actions") from exc
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
    from berth.contract import TooManyBadRowsError
    from berth.io import load_port_data

    target = quarantine if quarantine is not None else data / "quarantine.csv"
    try:
        result = load_port_data(data, load_data_config(config))
    except TooManyBadRowsError as exc:
        # The data fails the contract, but the report and the quarantined rows say why.
        console.print(exc.result.report.render())
        written = exc.result.write_quarantine(target)
        if written is not None:
            console.print(f"Quarantined rows written to {written}")
        raise
    console.print(result.report.render())
    written = result.write_quarantine(target)
    if written is not None:
        console.print(f"Quarantined rows written to {written}")
    else:
        console.print("No rows quarantined.")


@app.command()
@_handle_errors
def ingest(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    config: Annotated[Path | None, typer.Option(help="YAML config with a data section.")] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="With --retention-days: keep at least this bundle's feature lookback (default: "
            "BERTH_MODEL_SOURCE when it is a folder)."
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Prune history older than this many days (at least the bundle's lookback); "
            "default: keep everything, so whole-history features score as in training.",
        ),
    ] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where to write quarantined rows (default DATA/quarantine.csv).")
    ] = None,
) -> None:
    """Store a data folder's valid rows in the service database's customer history (BERTH_DATABASE_URL):
    idempotent, so a folder ingested twice stores nothing new; then prune what no feature reads."""
    from berth.config import load_data_config
    from berth.contract import TooManyBadRowsError
    from berth.history import HistoryStore
    from berth.ingest import ingest_folder
    from berth.ingest import retention_days as keep_days_for

    settings = _serve_settings()
    if bundle is None and settings.model_source != "registry" and Path(settings.model_source).is_dir():
        bundle = Path(settings.model_source)
    keep_days = keep_days_for(bundle, retention_days)
    store = _open_store()
    target = quarantine if quarantine is not None else data / "quarantine.csv"
    try:
        report = _db_call(
            lambda: ingest_folder(
                data, load_data_config(config), HistoryStore(store.engine), keep_days=keep_days
            )
        )
    except TooManyBadRowsError as exc:
        console.print(exc.result.report.render())
        exc.result.write_quarantine(target)
        raise
    finally:
        store.dispose()
    for line in report.lines():
        console.print(line, highlight=False)
    written = report.validation.write_quarantine(target)
    if written is not None:
        console.print(f"Quarantined rows written to {written}")
    if keep_days is None:
        console.print("No pruning: no bundle (--bundle) and no --retention-days.")


@app.command()
@_handle_errors
def train(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    config: Annotated[Path | None, typer.Option(help="Training config (YAML).")] = None,
    cutoff: Annotated[
        str | None, typer.Option(help="Use only data up to this date (default: the last date in the data).")
    ] = None,
    horizon_days: Annotated[int | None, typer.Option(min=7, help="Churn horizon in days.")] = None,
) -> None:
    """Train, evaluate against baselines, log to MLflow and register a churn model."""
    from berth.config import load_train_config
    from berth.io import load_port_data
    from berth.registry import log_and_register, tracking_uri, training_run
    from berth.training import metrics_table, train_churn_model

    settings = load_train_config(config)
    if settings.project is None:
        settings = settings.model_copy(update={"project": data.resolve().name})
    cutoff_date = _parse_date(cutoff, "--cutoff")
    loaded = load_port_data(data, settings.data)
    console.print(loaded.report.render())
    import tempfile

    # the MLflow run spans the training, so the run's duration is the training's
    with training_run(), tempfile.TemporaryDirectory() as plots:
        trained = train_churn_model(
            loaded.data,
            settings,
            cutoff=cutoff_date,
            horizon_days=horizon_days,
            artifacts_dir=Path(plots),
            progress=True,
        )
        assert trained.history is not None
        registered = log_and_register(trained, settings, loaded.data, trained.history)
    console.print(
        f"\nModel kind: [bold]{trained.bundle.model_kind}[/]   "
        f"horizon: {trained.bundle.spec.horizon_days} days"
        f"   training cutoff: {trained.training_cutoff}"
    )
    shown = set(loaded.report.notes)  # the validation summary above printed the data's notes
    for note in trained.notes:
        if note not in shown:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    if trained.metrics:
        console.print("\nValidation metrics (the validation cutoffs pooled; time-based split):")
        console.print(metrics_table(trained.metrics).round(4).to_string())
    console.print(f"\nMLflow run: {registered.run_id} (experiment {registered.experiment_id})")
    console.print(f"Registered: {registered.model_name} version {registered.version}")
    console.print(f"Champion: {registered.reason}")
    console.print(f"Look at it: uv run mlflow ui --backend-store-uri {tracking_uri()}")


@app.command()
@_handle_errors
def score(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    as_of: Annotated[str, typer.Option(help="Score as of this date (YYYY-MM-DD); later data is ignored.")],
    output: Annotated[Path, typer.Option(help="Where to write the scores (.csv or .parquet).")],
    model_version: Annotated[
        str | None, typer.Option(help="Registered version (default: the champion).")
    ] = None,
    bundle: Annotated[Path | None, typer.Option(help="Score with an exported bundle folder instead.")] = None,
    config: Annotated[Path | None, typer.Option(help="Config with a data section (column mapping).")] = None,
    to_db: Annotated[
        bool, typer.Option(help="Also store the scores in the database (BERTH_DATABASE_URL).")
    ] = False,
    value_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="expected_shipments / expected_revenue over this many days (default: the bundle's, 365).",
        ),
    ] = None,
) -> None:
    """Score every eligible customer as of a date with the champion (or a given version): churn,
    tiers, value (CLV) and the customer taxonomy."""
    from berth.config import load_train_config
    from berth.eligibility import describe_unscored, unscored_reasons
    from berth.io import load_port_data, write_table

    as_of_date = _parse_date(as_of, "--as-of")
    assert as_of_date is not None
    if output.suffix.lower() not in {".csv", ".parquet"}:
        raise typer.BadParameter("expected a .csv or .parquet file", param_hint="--output")
    settings = load_train_config(config)
    scorer = _load_cli_scorer(settings.model_name, bundle, model_version)
    loaded = load_port_data(data, settings.data)
    _warn_other_source(scorer, loaded.data, data)
    scores = scorer.score_frame(loaded.data, as_of_date, value_horizon_days=value_horizon_days)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(scores, output)
    console.print(
        f"Scored {len(scores):,} customers as of {as_of_date} "
        f"with {scorer.info.name} v{scorer.info.version}; "
        f"wrote {output}"
    )
    unscored = unscored_reasons(
        loaded.data, scores["customer_id"], as_of_date, scorer.bundle.spec.lookback_days
    )
    for line in describe_unscored(unscored, len(scores)):
        console.print(line, highlight=False)
    if to_db:
        store = _store()
        written = store.write_scores(scores, scorer.info.name, scorer.info.version)
        console.print(f"Stored {written:,} scores in the database.")


@app.command()
@_handle_errors
def plan(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    as_of: Annotated[str, typer.Option(help="Plan as of this date (YYYY-MM-DD); later data is ignored.")],
    budget: Annotated[float, typer.Option(min=0, help="Total action cost allowed, in revenue units.")],
    output: Annotated[
        Path, typer.Option(help="Where to write the plan (.csv); an .html summary is written beside it.")
    ],
    capacity: Annotated[
        list[str] | None, typer.Option(help="ACTION=N: at most N customers for that action (repeatable).")
    ] = None,
    control_share: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of planned customers held out as controls.")
    ] = 0.1,
    campaign_id: Annotated[
        str | None, typer.Option(help="Campaign id (default: plan-AS_OF); the control draw depends on it.")
    ] = None,
    playbook: Annotated[Path, typer.Option(help="Playbook YAML (actions, costs, triggers).")] = Path(
        "configs/playbook.yaml"
    ),
    past_actions: Annotated[
        Path | None, typer.Option(help="CSV of customer_id, action, taken_at: cooldowns apply to them.")
    ] = None,
    lang: Annotated[str, typer.Option(help="en or zh (the HTML summary and the driver sentences).")] = "en",
    time_limit: Annotated[float, typer.Option(min=1, help="Solver time limit in seconds.")] = 60.0,
    model_version: Annotated[
        str | None, typer.Option(help="Registered version (default: the champion).")
    ] = None,
    bundle: Annotated[Path | None, typer.Option(help="Use an exported bundle folder instead.")] = None,
    config: Annotated[Path | None, typer.Option(help="Config with a data section (column mapping).")] = None,
    to_db: Annotated[
        bool,
        typer.Option(
            help="Also store the plan in the database (BERTH_DATABASE_URL): the API's "
            "GET /v1/customers/{id}/recommendations then answers from it."
        ),
    ] = False,
) -> None:
    """Plan a retention campaign: the (customer, action) pairs worth most under a budget, with a
    control group; writes the plan (CSV) and a summary page (HTML) for the retention manager."""
    import pandas as pd

    from berth.config import load_train_config
    from berth.features import HistoryArrays
    from berth.i18n import normalise_language
    from berth.io import load_port_data
    from berth.recommend.campaign import run_campaign
    from berth.recommend.playbook import load_playbook
    from berth.recommend.report import plan_table, render_plan

    as_of_date = _parse_date(as_of, "--as-of")
    assert as_of_date is not None
    if output.suffix.lower() != ".csv":
        raise typer.BadParameter("expected a .csv file", param_hint="--output")
    try:
        language = normalise_language(lang)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lang") from exc
    book = load_playbook(playbook)
    limits: dict[str, int] = {}
    for item in capacity or []:
        name, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            raise typer.BadParameter(
                f"{item!r}: expected ACTION=N, e.g. follow_up_call=200", param_hint="--capacity"
            )
        if name not in book.actions:
            raise typer.BadParameter(
                f"{name!r} is not an action of {playbook}: {', '.join(book.actions)}", param_hint="--capacity"
            )
        limits[name] = int(number)
    history_actions = None
    if past_actions is not None:
        history_actions = pd.read_csv(past_actions, dtype={"customer_id": str})
        missing = {"customer_id", "action", "taken_at"} - set(history_actions.columns)
        if missing:
            raise typer.BadParameter(
                f"{past_actions}: missing column(s) {', '.join(sorted(missing))}", param_hint="--past-actions"
            )
    settings = load_train_config(config)
    scorer = _load_cli_scorer(settings.model_name, bundle, model_version)
    loaded = load_port_data(data, settings.data)
    _warn_other_source(scorer, loaded.data, data)
    history = HistoryArrays.from_port_data(loaded.data, known_until=as_of_date)
    campaign = run_campaign(
        scorer,
        history,
        as_of_date,
        book,
        budget=budget,
        campaign_id=campaign_id or f"plan-{as_of_date.isoformat()}",
        capacity=limits,
        control_share=control_share,
        past_actions=history_actions,
        time_limit_s=time_limit,
        lang=language,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    plan_table(campaign).to_csv(output, index=False)
    page = output.with_suffix(".html")
    page.write_text(render_plan(campaign, language), encoding="utf-8")
    result = campaign.result
    treatment = campaign.plan[campaign.plan["group"] == "treatment"] if len(campaign.plan) else campaign.plan
    console.print(
        f"Planned {len(campaign.plan):,} of {len(campaign.customers):,} customers "
        f"({len(treatment):,} treatment, {len(campaign.plan) - len(treatment):,} control). Treatment: cost "
        f"{treatment['cost'].sum() if len(treatment) else 0:,.0f} of {budget:,.0f}, expected net value "
        f"{treatment['expected_net_value'].sum() if len(treatment) else 0:,.0f}. Plan with controls "
        f"{result.objective:,.0f} ({result.method}, optimality gap {result.gap:.2%}); "
        f"wrote {output} and {page}"
    )
    if to_db:
        stored = _db_call(lambda: _store().write_plan(campaign.plan, scorer.info.name, scorer.info.version))
        console.print(
            f"Stored {stored:,} planned customers of campaign {campaign.campaign_id} in the database."
        )


@app.command("evaluate-actions")
@_handle_errors
def evaluate_actions_command(
    plan: Annotated[Path, typer.Option(help="The campaign's plan CSV (berth plan --output).")],
    data: Annotated[
        Path, typer.Option(help="Folder with shipments covering the horizon after the plan's date.")
    ],
    horizon_days: Annotated[
        int, typer.Option(min=7, help="Days after the plan's date in which churn is read.")
    ] = 90,
    playbook: Annotated[Path, typer.Option(help="Playbook YAML with the prior uplifts.")] = Path(
        "configs/playbook.yaml"
    ),
    prior_sd: Annotated[float, typer.Option(min=0.001, help="Standard deviation of the prior uplift.")] = 0.1,
    output: Annotated[Path | None, typer.Option(help="Write the per-action table here (.csv).")] = None,
    write_playbook: Annotated[
        Path | None,
        typer.Option(help="Write a copy of the playbook with measured actions' posterior uplift."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config with a data section (column mapping).")] = None,
) -> None:
    """Measure what each action of a campaign achieved: churn of its treatment group against its
    control group, with a 90% interval, beside the playbook's prior."""
    import pandas as pd
    import yaml

    from berth.config import load_data_config, read_yaml
    from berth.features import HistoryArrays
    from berth.io import load_port_data
    from berth.recommend.evaluate import evaluate_actions, write_posterior
    from berth.recommend.playbook import load_playbook

    book = load_playbook(playbook)
    frame = pd.read_csv(plan, dtype={"customer_id": str})
    loaded = load_port_data(data, load_data_config(config))
    history = HistoryArrays.from_port_data(loaded.data)
    try:
        results = evaluate_actions(frame, history, horizon_days, book, prior_sd=prior_sd)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--plan") from exc
    console.print(results.round(3).to_string(index=False))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        results.to_csv(output, index=False)
        console.print(f"wrote {output}")
    if write_playbook is not None:
        updated = write_posterior(read_yaml(playbook), results)
        write_playbook.write_text(
            yaml.safe_dump(updated, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        console.print(f"wrote {write_playbook} (posterior uplift for actions with enough data)")


def _load_cli_scorer(model_name: str, bundle: Path | None, model_version: str | None) -> Any:
    """An exported bundle folder, a registered version, or the champion."""
    from berth.registry import load_scorer_from_folder, load_scorer_from_registry

    if bundle is not None:
        return load_scorer_from_folder(bundle)
    return load_scorer_from_registry(
        model_name, alias=None if model_version else "champion", version=model_version
    )


def _warn_other_source(scorer: Any, data: Any, folder: Path) -> None:
    """Say so when the data being scored is not shaped like the model's training data."""
    from berth.provenance import source_differences

    trained_on = dict(scorer.bundle.metadata.get("data_source") or {})
    problems = source_differences(trained_on, data)
    if problems:
        console.print(
            f"[yellow]warning:[/] {scorer.info.name} v{scorer.info.version} was trained on project "
            f"{trained_on.get('project')!r}; the data in {folder} differs: " + "; ".join(problems)
        )


@app.command()
@_handle_errors
def export(
    out: Annotated[Path, typer.Option(help="Folder to write the bundle into (replaced).")] = Path(
        "models/champion"
    ),
    model_version: Annotated[
        str | None, typer.Option(help="Registered version (default: the champion).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Training config (for the model name).")] = None,
    sign_key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 private key (PEM) to sign the bundle with (berth keys create)."),
    ] = None,
) -> None:
    """Export a registered model bundle for serving without a tracking server (signed with --sign-key)."""
    from berth.config import load_train_config
    from berth.registry import export_bundle
    from berth.signing import sign_bundle

    name = load_train_config(config).model_name
    export_bundle(name, out, alias=None if model_version else "champion", version=model_version)
    console.print(f"Exported {name} ({'v' + model_version if model_version else 'champion'}) to {out}")
    if sign_key is not None:
        key_id = sign_bundle(out, sign_key)
        console.print(f"Signed with key {key_id} ({out / 'signature.json'})")


@app.command()
@_handle_errors
def request(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    customer: Annotated[list[str], typer.Option(help="Customer id to include; repeat it.")],
    as_of: Annotated[
        str, typer.Option(help="The request's as_of date (YYYY-MM-DD); later rows are left out.")
    ],
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: print it).")] = None,
    config: Annotated[Path | None, typer.Option(help="Config with a data section (column mapping).")] = None,
) -> None:
    """Build a ``POST /v1/scores`` request body from a data folder (for trying or testing the API)."""
    import json

    from berth.api.requests import request_body
    from berth.config import load_train_config
    from berth.io import load_port_data

    as_of_date = _parse_date(as_of, "--as-of")
    assert as_of_date is not None
    loaded = load_port_data(data, load_train_config(config).data)
    body = request_body(loaded.data, customer, as_of_date)
    text = json.dumps(body, indent=2, ensure_ascii=False)
    if out is None:
        print(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"Wrote a request for {len(body['customers'])} customer(s) to {out}")


def run() -> Any:
    """Entry point used by ``python -m berth``."""
    return app()


# -- serving: berth serve | apikey | db ---------------------------------------------------------


def _store() -> Store:
    """The service database of BERTH_DATABASE_URL, migrated."""
    from berth.settings import Settings
    from berth.store import Store

    store = Store(Settings().database_url)
    store.upgrade()
    return store


feedback_app = typer.Typer(help="Actions taken for customers and their outcomes.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("import")
@_handle_errors
def feedback_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV exported from the CRM: customer_id, action, taken_at, and optionally outcome, "
            "outcome_at, notes, request_id, campaign_id (the POST /v1/feedback fields).",
        ),
    ],
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Where refused rows go with their reasons (default: FILE.quarantine.csv)."),
    ] = None,
) -> None:
    """Store actions and outcomes from a CRM export, row by row under the same rules as
    POST /v1/feedback; refused rows are written with their reasons, never dropped silently."""
    from berth.recommend.feedback import read_feedback

    result = read_feedback(file)
    stored, outcomes, repeated = _db_call(lambda: _store().import_feedback(result.accepted))
    console.print(
        f"Stored {stored:,} of {result.rows:,} feedback rows from {file}"
        + (f"; {outcomes:,} outcomes added to actions stored before" if outcomes else "")
        + (f" ({repeated:,} already stored, skipped)." if repeated else ".")
    )
    if len(result.refused):
        target = quarantine or file.with_name(file.stem + ".quarantine.csv")
        result.refused.to_csv(target, index=False)
        console.print(f"Refused {len(result.refused):,} rows; wrote them with their reasons to {target}:")
        for reason, count in result.reason_counts().items():
            console.print(f"  {count:,} × {reason}", highlight=False)


apikey_app = typer.Typer(help="Create, list and revoke API keys of the scoring API.", no_args_is_help=True)
db_app = typer.Typer(
    help="The service database (scores, prediction log, feedback, API keys).", no_args_is_help=True
)
app.add_typer(apikey_app, name="apikey")
app.add_typer(db_app, name="db")


def _serve_settings() -> Any:
    """Settings from BERTH_* variables; an invalid or unsafe combination is a ConfigError."""
    from pydantic import ValidationError

    from berth.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"BERTH_* settings: {problems}") from None


def _open_store(migrate: bool = True) -> Any:
    """The configured store, migrated first unless BERTH_AUTO_MIGRATE=false."""
    from berth.store import Store

    settings = _serve_settings()
    store = Store(settings.database_url)
    if migrate and settings.auto_migrate:
        _db_call(store.upgrade)
    return store


def _db_call(func: Callable[[], R]) -> R:
    """Run a database call, turning driver errors into one readable BerthError."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return func()
    except SQLAlchemyError as exc:
        raise BerthError(f"database error: {getattr(exc, 'orig', None) or exc}") from None


@app.command()
@_handle_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (BERTH_HOST, default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (BERTH_PORT, default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (BERTH_WORKERS).")] = None,
    bundle: Annotated[
        Path | None, typer.Option(help="Serve this exported bundle folder instead of the registry champion.")
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (uvicorn access log).")] = True,
) -> None:
    """Serve the scoring API (settings from BERTH_* variables; options override them)."""
    import os
    import tempfile

    import uvicorn

    from berth.api.server import uvicorn_options
    from berth.store import upgrade

    if bundle is not None:
        if not bundle.is_dir():
            raise typer.BadParameter(f"{bundle} is not a folder", param_hint="--bundle")
        os.environ["BERTH_MODEL_SOURCE"] = str(bundle.resolve())
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"BERTH_{name}"] = str(value)
    settings = _serve_settings()
    if settings.auto_migrate:
        _db_call(lambda: upgrade(settings.database_url))
        os.environ["BERTH_AUTO_MIGRATE"] = "false"  # migrated once here, not by each worker
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="berth-metrics-")
    uvicorn.run(
        "berth.api.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=access_log,
        server_header=False,
        timeout_graceful_shutdown=30,
        **uvicorn_options(settings),
    )


keys_app = typer.Typer(help="Bundle signing keys (Ed25519).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_handle_errors
def keys_create(
    out: Annotated[Path, typer.Option(help="Folder for bundle_signing.pem (private) and .pub.pem.")] = Path(
        "keys"
    ),
) -> None:
    """Create an Ed25519 key pair: sign exports with the private key, give services the public one."""
    from berth.signing import create_keypair

    try:
        private, public = create_keypair(out)
    except FileExistsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    console.print(f"private key (keep it with whoever exports models): {private}")
    console.print(f"public key (BERTH_BUNDLE_PUBLIC_KEYS for the services): {public}")


@apikey_app.command("create")
@_handle_errors
def apikey_create(
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="score, events and/or admin; repeat it [default: score]."),
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what uses the key (e.g. crm-prod).")] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from berth.store import API_SCOPES

    scopes = sorted(set(scope or ["score"]))
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise typer.BadParameter(
            f"unknown scope(s) {unknown}; choose from {list(API_SCOPES)}", param_hint="--scope"
        )
    store = _open_store()
    key_id, plaintext = _db_call(lambda: store.create_api_key(scopes, name))
    console.print(f"Created API key {key_id} (scopes: {', '.join(scopes)}). It is shown only once:")
    print(plaintext)


@apikey_app.command("revoke")
@_handle_errors
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key id (bk_...), as listed.")]) -> None:
    """Revoke a key (running servers stop accepting it within BERTH_API_KEY_CACHE_TTL_S)."""
    store = _open_store()
    if not _db_call(lambda: store.revoke_api_key(key_id.split(".")[0])):
        raise BerthError(f"no active API key {key_id!r}")
    console.print(f"Revoked {key_id}.")


@apikey_app.command("list")
@_handle_errors
def apikey_list() -> None:
    """List keys (ids, names, scopes, dates; never the keys)."""
    from rich.table import Table

    store = _open_store()
    table = Table("key id", "name", "scopes", "created", "revoked")
    for record in _db_call(store.list_api_keys):
        table.add_row(
            record.key_id,
            record.name,
            ",".join(sorted(record.scopes)),
            record.created_at.strftime("%Y-%m-%d %H:%M"),
            record.revoked_at.strftime("%Y-%m-%d %H:%M") if record.revoked_at else "",
        )
    console.print(table)


@db_app.command("upgrade")
@_handle_errors
def db_upgrade() -> None:
    """Apply the database migrations (BERTH_DATABASE_URL)."""
    from sqlalchemy.engine import make_url

    from berth.store import upgrade

    settings = _serve_settings()
    _db_call(lambda: upgrade(settings.database_url))
    console.print(
        f"Database {make_url(settings.database_url).render_as_string(hide_password=True)} is up to date."
    )


# -- reports: berth report portfolio ---------------------------------------------------------------

report_app = typer.Typer(
    help="Reports for retention managers (CSV tables and one HTML page).", no_args_is_help=True
)
app.add_typer(report_app, name="report")


@report_app.command("portfolio")
@_handle_errors
def report_portfolio(
    data: Annotated[Path, typer.Option(help="Folder with shipments.(csv|parquet) and optional tables.")],
    as_of: Annotated[str, typer.Option(help="Report as of this date (YYYY-MM-DD); later data is ignored.")],
    out: Annotated[Path, typer.Option(help="Folder to write portfolio.html and one CSV per table into.")],
    lang: Annotated[str, typer.Option(help="Language of the page: en or zh (Simplified Chinese).")] = "en",
    period_days: Annotated[
        int, typer.Option(min=7, help="The period: this many days up to as_of (the previous one as long).")
    ] = 365,
    satisfied_score: Annotated[
        float, typer.Option(min=0, max=10, help="Satisfied: latest survey score in the period at least this.")
    ] = 8.0,
    config: Annotated[
        Path | None, typer.Option(help="Training config (data mapping; tiers, value, taxonomy sections).")
    ] = None,
) -> None:
    """Portfolio report: concentration, satisfaction, NPS, churn, states, tiers and CLV, by segment."""
    from berth.config import load_train_config
    from berth.i18n import normalise_language
    from berth.io import load_port_data, write_table
    from berth.reports.html import render_portfolio_html
    from berth.reports.portfolio import PortfolioConfig, portfolio_report

    as_of_date = _parse_date(as_of, "--as-of")
    assert as_of_date is not None
    try:
        language = normalise_language(lang)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lang") from None
    settings = load_train_config(config)
    loaded = load_port_data(data, settings.data)
    report = portfolio_report(
        loaded.data,
        as_of_date,
        settings,
        PortfolioConfig(period_days=period_days, satisfied_score=satisfied_score),
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, table in report.tables.items():
        write_table(table, out / f"{name}.csv")
    page = out / "portfolio.html"
    page.write_text(render_portfolio_html(report, language), encoding="utf-8")
    console.print(f"Portfolio report as of {as_of_date}: {len(report.tables)} tables and {page} in {out}")
    for section, reason in sorted(report.notes.items()):
        console.print(f"[yellow]note:[/] {section}: {reason.replace('_', ' ')}")
