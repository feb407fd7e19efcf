"""Feedback from CRM exports (``berth feedback import``): rows checked by the rules of
``POST /v1/feedback`` (the same pydantic model), refused rows kept with their reasons.

A date without a time (``2025-07-01``) is read as midnight UTC; a row already stored (same
customer, action and ``taken_at``) is not stored twice, so importing a file again is harmless.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from berth.api.schemas import FeedbackCreate
from berth.errors import DataContractError

REQUIRED = ("customer_id", "action", "taken_at")
OPTIONAL = ("outcome", "outcome_at", "notes", "request_id", "campaign_id")


@dataclass(frozen=True)
class FeedbackImport:
    """What a feedback file held: rows ready for :meth:`berth.store.Store.add_feedback`, and the
    refused rows (the file's columns, its 1-based ``line`` and a ``reason``)."""

    rows: int
    accepted: list[dict[str, Any]]
    refused: pd.DataFrame

    def reason_counts(self) -> dict[str, int]:
        """Refused rows by reason, most frequent first."""
        return dict(Counter(self.refused["reason"]).most_common()) if len(self.refused) else {}


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(x) for x in item["loc"]) or "row"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_feedback(path: Path) -> FeedbackImport:
    """Read and check a feedback CSV; a missing required column is a :class:`DataContractError`."""
    try:
        # CRM exports are small: pandas' sniffing reader takes ';' or tab files and a BOM alike
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, sep=None, engine="python", encoding="utf-8-sig"
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataContractError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"{path}: missing column(s) {', '.join(missing)}; columns found: {', '.join(frame.columns)}"
        )
    unknown = [c for c in frame.columns if c not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        raise DataContractError(
            f"{path}: unknown column(s) {', '.join(unknown)}; expected {', '.join((*REQUIRED, *OPTIONAL))}"
        )
    accepted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
    for line, record in enumerate(records, start=2):  # line 1 is the header
        values = {k: v.strip() for k, v in record.items() if v.strip() != ""}
        for column in ("taken_at", "outcome_at"):  # CRM exports often hold dates only: midnight UTC
            if column in values and _DATE_ONLY.match(values[column]):
                values[column] += "T00:00:00Z"
        try:
            body = FeedbackCreate.model_validate_json(json.dumps(values))  # as HTTP bodies are read
        except ValidationError as exc:
            refused.append({**record, "line": line, "reason": _reason(exc)})
            continue
        accepted.append(body.model_dump())
    return FeedbackImport(
        rows=len(frame),
        accepted=accepted,
        refused=pd.DataFrame(refused, columns=[*frame.columns, "line", "reason"]),
    )
