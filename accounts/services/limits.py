"""The rate-limit page: tier, access, per-model limits and the log of the last violations.

Its three upstream reads (limits, log, and the key list that names the log's keys) fail
independently: a failed one blanks its own section and the others still show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from accounts.presentation.names import key_label, model_name
from accounts.venice import RateLimitLog, RateLimits, VeniceError, get_client

# Columns of the per-model table: (sort name, limit type in the API, heading); phones show the
# API's abbreviation instead of the heading.
LIMIT_COLUMNS = (
    ("rpm", "RPM", "Requests / minute"),
    ("rpd", "RPD", "Requests / day"),
    ("tpm", "TPM", "Tokens / minute"),
    ("tpd", "TPD", "Tokens / day"),
)
LIMIT_SORTS = ("model", "-model") + tuple(
    name for column, _, _ in LIMIT_COLUMNS for name in (column, f"-{column}")
)
DEFAULT_SORT = "model"
LOG_SIZE = 50


@dataclass(frozen=True)
class ModelLimitRow:
    model_id: str
    limits: dict[str, Decimal | None]  # by sort name: {"rpm": 100, "tpd": None, ...}
    cells: tuple[Decimal | None, ...] = ()  # the shown columns' values, in order

    @property
    def model_name(self) -> str:
        return model_name(self.model_id)


@dataclass(frozen=True)
class LogFilters:
    key: str = ""
    model: str = ""
    type: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.key or self.model or self.type)


@dataclass(frozen=True)
class LogRow:
    entry: RateLimitLog
    key_label: str  # the key's description and last 6, or its id when Venice no longer has it


@dataclass(frozen=True)
class LimitsOverview:
    rate_limits: RateLimits | None
    rows: list[ModelLimitRow]
    columns: tuple[tuple[str, str, str], ...]  # (sort name, heading, abbreviation) shown
    sort: str
    log: list[LogRow]  # filtered, newest first
    log_total: int  # before filtering
    log_keys: list[tuple[str, str]]  # (key id, label) for the key filter
    log_models: list[tuple[str, str]]  # (model id, display name)
    key_names: dict[str, str] = field(default_factory=dict)  # id -> label
    limits_error: VeniceError | None = None
    log_error: VeniceError | None = None


def model_limit_rows(rate_limits: RateLimits, *, sort: str = DEFAULT_SORT) -> list[ModelLimitRow]:
    """The per-model limits, sorted by `sort` (`rpm`, `-tpm`, `model`...). A model without a
    limit of the sorted type goes last in either direction."""
    rows = [
        ModelLimitRow(
            model_id=model.model_id,
            limits={name: model.limits.get(api_type) for name, api_type, _ in LIMIT_COLUMNS},
        )
        for model in rate_limits.models
    ]
    descending = sort.startswith("-")
    column = sort.lstrip("-")
    if column == "model":
        return sorted(rows, key=lambda r: r.model_name.lower(), reverse=descending)
    known = [r for r in rows if r.limits.get(column) is not None]
    unknown = [r for r in rows if r.limits.get(column) is None]
    known.sort(key=lambda r: (r.limits[column], r.model_name.lower()), reverse=descending)
    return known + sorted(unknown, key=lambda r: r.model_name.lower())


def limit_columns(rows: list[ModelLimitRow]) -> tuple[tuple[str, str, str], ...]:
    """The limit columns some model has a value in (Venice may report no daily token limit
    at all: an empty column only takes room)."""
    return tuple(
        (name, heading, api_type)
        for name, api_type, heading in LIMIT_COLUMNS
        if any(row.limits.get(name) is not None for row in rows)
    )


def limits_overview_get(*, sort: str = DEFAULT_SORT, filters: LogFilters) -> LimitsOverview:
    client = get_client()
    rate_limits = limits_error = None
    try:
        rate_limits = client.api_keys.get_rate_limits()
    except VeniceError as error:
        limits_error = error

    log: list[RateLimitLog] = []
    log_error = None
    try:
        log = client.api_keys.get_rate_limits_log()
    except VeniceError as error:
        log_error = error

    # Names for the log's key ids; without them the ids alone still identify the keys.
    key_names: dict[str, str] = {}
    if log:
        try:
            key_names = {
                key.id: key_label(key.description, key.last6) for key in client.api_keys.list()
            }
        except VeniceError:
            key_names = {}

    rows = model_limit_rows(rate_limits, sort=sort) if rate_limits else []
    columns = limit_columns(rows)
    rows = [
        ModelLimitRow(row.model_id, row.limits, tuple(row.limits[name] for name, _, _ in columns))
        for row in rows
    ]
    key_ids = sorted({entry.api_key_id for entry in log})
    filtered = [
        entry
        for entry in log
        if (not filters.key or entry.api_key_id == filters.key)
        and (not filters.model or entry.model_id == filters.model)
        and (not filters.type or entry.rate_limit_type.value == filters.type)
    ]
    filtered.sort(key=lambda entry: entry.timestamp, reverse=True)
    return LimitsOverview(
        rate_limits=rate_limits,
        rows=rows,
        columns=columns,
        sort=sort,
        log=[LogRow(entry, _key_label(entry.api_key_id, key_names)) for entry in filtered],
        log_total=len(log),
        log_keys=[(key_id, _key_label(key_id, key_names)) for key_id in key_ids],
        log_models=sorted(
            {(entry.model_id, model_name(entry.model_id)) for entry in log},
            key=lambda pair: pair[1].lower(),
        ),
        key_names=key_names,
        limits_error=limits_error,
        log_error=log_error,
    )


def _key_label(key_id: str, labels: dict[str, str]) -> str:
    """`Production backend …F80ymm`, as every page names a key; the id alone when Venice no
    longer lists the key (or the list could not be read)."""
    return labels.get(key_id) or key_id
