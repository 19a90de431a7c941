"""Exports that leave the portal, each recorded in the audit log before its first byte.

The audit CSV lists the records as they stood when the export began, newest first, read in
chunks as the response streams. The audit JSON Lines file is the chain itself, in sequence
order, in the canonical form its hashes cover (docs/audit-format.md).

The usage files (the ledger, readable or raw, and daily spend by key or by model; see
usage_csv.py) stream while they walk Venice, one page or day in memory at a time. Each export's
audit record is opened (`pending`, committed) before the first upstream call and closed when
the walk ends: `succeeded` with the row count, or `failed` with the error. A failure after rows
were sent cannot become an error status any more, so the file ends with an `ERROR,...` line
instead of being silently short.

Times in a file are in the time zone of the person exporting it, named in its header; it is
read when the export starts (the response streams after the request's zone is gone).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, tzinfo

from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from accounts.presentation.audit import audit_sentence
from accounts.selectors.audit import audit_events_iter
from accounts.selectors.audit_chain import ChainExport, audit_chain_export
from accounts.services.audit import AuditContext, audit_log, audited
from accounts.services.csv_cells import spreadsheet_safe
from accounts.services.usage_csv import (
    READABLE,
    VENICE,
    DailySpendFile,
    csv_error_line,
    daily_spend_chunks,
    export_filename,
    ledger_readable_chunks,
    ledger_venice_chunks,
)
from accounts.services.usage_history import EXPORT_PAGE_SIZE, UsageFilters
from accounts.venice import VeniceError


@dataclass(frozen=True)
class UsageExport:
    filename: str
    chunks: Iterator[str]


class _ExportStopped(Exception):
    """Ends the audited block as failed once the error line has been sent."""


def usage_history_export(
    *,
    context: AuditContext,
    filters: UsageFilters,
    today: date,
    file_format: str = READABLE,
    page_size: int = EXPORT_PAGE_SIZE,
    zone: tzinfo | None = None,
) -> UsageExport:
    """Start the ledger export (readable, or Venice's own columns): the audit record is
    committed and the first page fetched before this returns, so an upstream that is down at
    the start raises VeniceError here (and the caller can show a page instead of a file).
    Iterate `chunks` to stream the rest."""
    zone = zone or timezone.get_current_timezone()
    kind = "usage-raw" if file_format == VENICE else "usage"
    filename = export_filename(kind, filters.first_day, filters.last_day, today=today)
    if file_format == VENICE:

        def chunks():
            return ledger_venice_chunks(filters=filters, page_size=page_size)

    else:
        zone_name = str(zone)

        def chunks():
            return ledger_readable_chunks(
                filters=filters, zone=zone, zone_name=zone_name, page_size=page_size
            )

    details = {
        "export": "ledger" if file_format == READABLE else "ledger-venice",
        "filters": filters.as_details(),
        "filename": filename,
        "time_zone": str(zone),
    }
    return _start(context=context, details=details, filename=filename, chunks=chunks)


def daily_spend_export(
    *, context: AuditContext, file: DailySpendFile, first: date, last: date, today: date
) -> UsageExport:
    """Start a daily spend export by key or by model over `first`..`last` (both included):
    one analytics call per day. Audited and started like usage_history_export."""
    filename = export_filename(file.name, first, last, today=today)
    days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    details = {
        "export": file.name,
        "filters": {"from": first.isoformat(), "to": last.isoformat()},
        "filename": filename,
    }
    return _start(
        context=context,
        details=details,
        filename=filename,
        chunks=lambda: daily_spend_chunks(file=file, days=days),
    )


def allocation_export(
    *, context: AuditContext, first: date, last: date, today: date, focus: bool = False
) -> UsageExport:
    """Start the allocation file (services/allocation_exports.py) over `first`..`last`, the
    plain chargeback CSV or its FOCUS form: one analytics call per day, audited and started
    like usage_history_export."""
    from accounts.services.allocation_exports import (
        allocation_csv_chunks,
        allocation_focus_chunks,
    )

    kind = "allocation-focus" if focus else "allocation"
    filename = export_filename(kind, first, last, today=today)
    details = {
        "export": kind,
        "filters": {"from": first.isoformat(), "to": last.isoformat()},
        "filename": filename,
    }
    chunks = allocation_focus_chunks if focus else allocation_csv_chunks
    return _start(
        context=context,
        details=details,
        filename=filename,
        chunks=lambda: chunks(first=first, last=last),
    )


def _start(*, context: AuditContext, details: dict, filename: str, chunks: Callable) -> UsageExport:
    stream = _stream(context=context, details=details, chunks=chunks)
    next(stream)  # runs up to "ready": the record committed, the first page fetched
    return UsageExport(filename=filename, chunks=stream)


def _stream(*, context: AuditContext, details: dict, chunks: Callable) -> Iterator[str]:
    """Yields "" once ready (see usage_history_export), then the CSV. `sent` counts the rows
    handed over so far: what the audit record and the error line report."""
    sent = 0
    try:
        with audited(context, action=AuditAction.BILLING_USAGE_EXPORTED, details=details) as record:
            pages = chunks()
            header, _ = next(pages)
            # The first page is fetched before anything is sent: a failure here still reaches
            # the caller, which shows it on a page instead of in a file.
            first, count = next(pages, ("", 0))
            try:
                yield ""
                sent += count
                yield header + first
                for text, count in pages:
                    sent += count
                    yield text
            except VeniceError as error:
                record.add_details(rows=sent)
                yield csv_error_line(error, sent)
                raise _ExportStopped(
                    f"{type(error).__name__} after {sent} rows: {error.message}"
                ) from error
            except GeneratorExit:
                # The download was abandoned (the browser went away, or nobody read it): say
                # so, rather than leave the record pending for a reconcile that has no
                # upstream change to find.
                record.add_details(rows=sent)
                raise _ExportStopped(f"The download was interrupted after {sent} rows.") from None
            record.add_details(rows=sent)
    except _ExportStopped:
        # audited() recorded the failure; the file (if anyone still reads it) ends with the
        # error line.
        return


AUDIT_CSV_COLUMNS = (
    "id",
    "time",  # ISO 8601, UTC
    "time_local",  # in the exporter's zone; the header names it
    "actor",
    "role",
    "action",
    "summary",  # the record as a sentence, as the audit page shows it
    "outcome",
    "key_id",
    "key_description",
    "key_last6",
    "changes",
    "details",
    "error",
    "ip",
    "user_agent",
    "request_id",
    "completed_at",
    "sequence",
    "hash",
)


class _Line:
    """A file-like sink for csv.writer that hands back each line as it is written."""

    def write(self, text: str) -> str:
        return text


def _audit_csv_row(event: AuditEvent, zone: tzinfo) -> list[str]:
    return [
        spreadsheet_safe(value)
        for value in (
            event.pk,
            event.time.isoformat(),
            event.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            event.actor_username,
            event.actor_role,
            event.action,
            audit_sentence_in(event, zone),
            event.outcome,
            event.key_id,
            event.key_description,
            event.key_last6,
            json.dumps(event.changes, sort_keys=True) if event.changes else "",
            json.dumps(event.details, sort_keys=True) if event.details else "",
            event.error,
            event.ip,
            event.user_agent,
            event.request_id,
            event.completed_at.isoformat() if event.completed_at else "",
            event.sequence,
            event.hash,
        )
    ]


def audit_sentence_in(event: AuditEvent, zone: tzinfo) -> str:
    """The sentence with its times in `zone` (the export streams after the request's zone is
    gone)."""
    with timezone.override(zone):
        return audit_sentence(event)


def audit_export_filename(filters, *, today: date) -> str:
    """`audit-2026-11-01_2026-11-30.csv`: the days it covers."""
    start = filters.date_from.isoformat() if filters.date_from else "beginning"
    end = (filters.date_to or today).isoformat()
    return f"audit-{start}_{end}.csv"


def audit_export_csv(
    context: AuditContext, *, filters, zone: tzinfo | None = None
) -> Iterator[str]:
    """Record the export (with its filters), then return the matching records as CSV lines,
    newest first, read in chunks as the caller consumes them. The export lists the records
    as they stood when it began; times in `zone` (the exporter's) beside the UTC ones."""
    zone = zone or timezone.get_current_timezone()
    as_of = timezone.now()
    audit_log(context, action=AuditAction.AUDIT_EXPORTED, details={"filters": filters.as_dict()})
    header = [f"time ({zone})" if name == "time_local" else name for name in AUDIT_CSV_COLUMNS]

    def lines() -> Iterator[str]:
        writer = csv.writer(_Line())
        yield writer.writerow(header)
        for event in audit_events_iter(filters, until=as_of):
            yield writer.writerow(_audit_csv_row(event, zone))

    return lines()


def audit_export_jsonl(context: AuditContext, *, after: int = 0) -> ChainExport:
    """Record the export, then the sealed records after sequence `after` up to the chain's
    head (this export's own record included) as JSON Lines in their canonical form, which
    tools/verify_audit_export.py checks without the portal (docs/audit-format.md)."""
    audit_log(
        context, action=AuditAction.AUDIT_EXPORTED, details={"format": "jsonl", "after": after}
    )
    return audit_chain_export(after=after)
