"""Request bodies parsed by pydantic straight from the JSON bytes.

``model_validate_json`` parses and validates in pydantic's Rust core: no intermediate Python
dicts, dates parsed natively in strict mode, and NaN / infinities reported at their field path.
FastAPI's own body handling (``json.loads`` then ``validate_python``) is several times slower on
histories with hundreds of rows, so the routes read the raw body and declare its schema through
:func:`request_body` instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from berth._logging import get_logger
from berth.api import columnar, schemas, wire
from berth.api.columnar import MIN_CUSTOMER_BYTES
from berth.api.convert import DecodedBatch
from berth.api.errors import ProblemError

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """Validate ``raw`` JSON into ``model``; errors become a 422 with ``body``-rooted field paths."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        issues = [
            {"loc": ("body", *error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise RequestValidationError(issues) from None


def decode_batch(raw: bytes, limit: int) -> DecodedBatch:
    """A scoring request as columns: 413 above ``limit`` customers, else 422 worded by pydantic.

    The compiled columnar decoder (:mod:`berth.api.columnar`) takes bodies in the plain valid
    form; any other body goes through :func:`decode_score_request`, which serves other spellings
    the contract allows and words every error.
    """
    batch = columnar.decode_columns(raw)
    if batch is None:
        return DecodedBatch.from_request(decode_score_request(raw, limit))
    if len(batch.customer_ids) > limit:
        raise _too_large(len(batch.customer_ids), limit)
    return batch


def decode_score_request(raw: bytes, limit: int) -> wire.ScoreRequest:
    """A scoring request decoded by msgspec: 413 above ``limit`` customers, else 422 worded by pydantic.

    When msgspec refuses the body, the customers are counted (a batch too large is a 413 whatever
    else is wrong) and pydantic validates it again to report every problem at its field path.
    Should pydantic accept a body msgspec refused (a few spellings, such as date-times without
    seconds), the request is served from pydantic's values, only slower.
    """
    try:
        request = wire.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        check_batch_size(raw, limit)
        validated = parse_body(schemas.ScoreRequest, raw)  # raises the 422
        # Spellings pydantic accepts and msgspec does not (e.g. date-times without seconds): a
        # client can send them on every request, so no warning per request.
        log.debug("served through the pydantic fallback", msgspec_error=str(exc))
        request = msgspec.convert(validated.model_dump(), wire.ScoreRequest, strict=False)
    if len(request.customers) > limit:
        raise _too_large(len(request.customers), limit)
    return request


def _too_large(count: int, limit: int) -> ProblemError:
    return ProblemError(
        413,
        f"batch of {count} customers exceeds the limit of {limit} customers per request",
        kind="batch-too-large",
        extra={"limit": limit},
    )


def check_batch_size(raw: bytes, limit: int) -> None:
    """413 when a body msgspec refused holds more than ``limit`` customers (counted with orjson).

    Bodies too small to hold ``limit`` + 1 customers are not parsed.
    """
    if len(raw) <= (limit + 1) * MIN_CUSTOMER_BYTES:
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return  # the validation reports it, with its position
    customers = data.get("customers") if isinstance(data, dict) else None
    if isinstance(customers, list) and len(customers) > limit:
        raise _too_large(len(customers), limit)


def request_body(*models: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``models`` (added to the components by the app) as the JSON body:
    one of them when several are given."""
    refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
