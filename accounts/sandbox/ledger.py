"""The account's usage ledger, kept as plain tuples so 200,000 entries stay cheap.

Entries are ordered by (timestamp, sequence number). The sequence number only grows, so a
usage-history walk can pin its snapshot ("entries numbered up to N") and stay stable while new
usage arrives, even usage back-dated into the middle of the walk.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Iterable

from accounts.sandbox.catalog import CURRENCIES, MODELS_BY_ID, SKUS
from accounts.sandbox.clock import iso_ms

# Tuple layout of one entry.
TS, SEQ, KEY, SKU, CUR, UNITS, AMOUNT, PROMPT, COMPLETION, EXEC_MS, REQ = range(11)
USD, DIEM, BUNDLED = 0, 1, 2  # indexes into CURRENCIES

_MULTIPLIER = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd 128-bit constant (golden ratio)
_MASK_128 = (1 << 128) - 1

ALL_KEYS = "*"  # the per-key index's entry for the whole account
WEB_APP = None  # usage from the web app carries no key id


def _order(entry: tuple) -> tuple[int, int]:
    return entry[TS], entry[SEQ]


class Ledger:
    def __init__(self, salt: bytes = b""):
        self.entries: list[tuple] = []
        self.last_seq = 0
        self.version = 0
        self._salt = salt
        self._mix = int.from_bytes(hashlib.sha256(salt).digest()[:16], "big")
        self._index: dict | None = None  # key id -> (timestamps, cumulative usd, cumulative diem)
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.entries)

    # --- writing ---------------------------------------------------------------------------
    def add(
        self,
        *,
        ts_ms: int,
        key_id: str | None,
        sku: int,
        currency: int,
        units: float,
        prompt: int | None = None,
        completion: int | None = None,
        exec_ms: int | None = None,
        request: int | None = None,
    ) -> tuple:
        with self._lock:
            self.last_seq += 1
            amount = -round(units * SKUS[sku].price_usd, 8)
            entry = (
                ts_ms,
                self.last_seq,
                key_id,
                sku,
                currency,
                units,
                amount,
                prompt,
                completion,
                exec_ms,
                request,
            )
            if not self.entries or _order(self.entries[-1]) <= _order(entry):
                self.entries.append(entry)
                if self._index is not None:
                    self._index_append(entry)
            else:  # back-dated (a test set the clock back): keep the order, rebuild sums later
                bisect.insort(self.entries, entry, key=_order)
                self._index = None
            self.version += 1
            return entry

    def extend(self, rows: Iterable[tuple]) -> int:
        """Add many entries at once. Each row is the entry tuple without its sequence number
        and amount: (ts_ms, key_id, sku, currency, units, prompt, completion, exec_ms, request).
        """
        with self._lock:
            seq = self.last_seq
            new = []
            prices = [sku.price_usd for sku in SKUS]
            for ts_ms, key_id, sku, currency, units, prompt, completion, exec_ms, request in rows:
                seq += 1
                amount = -round(units * prices[sku], 8)
                new.append(
                    (
                        ts_ms,
                        seq,
                        key_id,
                        sku,
                        currency,
                        units,
                        amount,
                        prompt,
                        completion,
                        exec_ms,
                        request,
                    )
                )
            added = seq - self.last_seq
            self.last_seq = seq
            if new:
                in_order = not self.entries or _order(self.entries[-1]) <= _order(new[0])
                self.entries.extend(new)
                if not in_order or any(
                    _order(a) > _order(b) for a, b in zip(new, new[1:], strict=False)
                ):
                    self.entries.sort(key=_order)
                self._index = None
                self.version += 1
            return added

    def load(self, rows: Iterable[list]) -> None:
        """Restore full entry tuples (as saved by `dump_rows`)."""
        with self._lock:
            self.entries = sorted((tuple(row) for row in rows), key=_order)
            self.last_seq = max((entry[SEQ] for entry in self.entries), default=0)
            self._index = None
            self.version += 1

    def dump_rows(self, *, after_seq: int = 0) -> list[list]:
        with self._lock:
            return [list(entry) for entry in self.entries if entry[SEQ] > after_seq]

    # --- reading ---------------------------------------------------------------------------
    def walk(
        self,
        *,
        after: tuple[int, int] | None,
        start_ms: int | None,
        end_ms: int | None,
        currency: int | None,
        max_seq: int,
        limit: int | None = None,
    ) -> list[tuple]:
        """Up to `limit` entries in order, from just after `after` (ts, seq) or from
        `start_ms`, skipping entries numbered above `max_seq` (newer than the walk)."""
        found: list[tuple] = []
        with self._lock:
            entries = self.entries
            if after is not None:
                position = bisect.bisect_right(entries, after, key=_order)
            elif start_ms is not None:
                position = bisect.bisect_left(entries, (start_ms, 0), key=_order)
            else:
                position = 0
            for index in range(position, len(entries)):
                entry = entries[index]
                if end_ms is not None and entry[TS] >= end_ms:
                    break
                if entry[SEQ] > max_seq:
                    continue
                if currency is not None and entry[CUR] != currency:
                    continue
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def between(self, start_ms: int, end_ms: int) -> list[tuple]:
        with self._lock:
            low = bisect.bisect_left(self.entries, (start_ms, 0), key=_order)
            high = bisect.bisect_left(self.entries, (end_ms, 0), key=_order)
            return self.entries[low:high]

    def sums(self, key_id: str | None, start_ms: int, end_ms: int) -> tuple[float, float]:
        """(usd incl. bundled credits, diem) spent by a key (or ALL_KEYS) in [start, end)."""
        with self._lock:
            if self._index is None:
                self._rebuild_index()
            found = self._index.get(key_id)
            if found is None:
                return 0.0, 0.0
            stamps, cum_usd, cum_diem = found
            low = bisect.bisect_left(stamps, start_ms)
            high = bisect.bisect_left(stamps, end_ms)
            return cum_usd[high] - cum_usd[low], cum_diem[high] - cum_diem[low]

    def _rebuild_index(self) -> None:
        self._index = {}
        for entry in self.entries:
            self._index_append(entry)

    def _index_append(self, entry: tuple) -> None:
        spent = -entry[AMOUNT]
        usd = spent if entry[CUR] != DIEM else 0.0
        diem = spent if entry[CUR] == DIEM else 0.0
        for name in (entry[KEY], ALL_KEYS):
            found = self._index.get(name)
            if found is None:
                found = self._index[name] = ([], [0.0], [0.0])
            stamps, cum_usd, cum_diem = found
            stamps.append(entry[TS])
            cum_usd.append(cum_usd[-1] + usd)
            cum_diem.append(cum_diem[-1] + diem)

    # --- presenting ------------------------------------------------------------------------
    def request_id(self, request: int) -> str:
        """A chatcmpl-<32 hex> id that looks random but follows from the request number and
        the ledger's salt: a multiplicative hash, cheap enough for 200,000 rows."""
        mixed = ((request ^ self._mix) * _MULTIPLIER) & _MASK_128
        mixed ^= mixed >> 61
        return f"chatcmpl-{(mixed * _MULTIPLIER) & _MASK_128:032x}"


def entry_json(entry: tuple, ledger: Ledger) -> dict:
    """One entry as GET /billing/usage-history returns it."""
    sku = SKUS[entry[SKU]]
    request = entry[REQ]
    details = None
    if request is not None:
        details = {
            "completionTokens": entry[COMPLETION],
            "inferenceExecutionTime": entry[EXEC_MS],
            "promptTokens": entry[PROMPT],
            "requestId": ledger.request_id(request),
        }
    return {
        "amount": entry[AMOUNT],
        "currency": CURRENCIES[entry[CUR]],
        "inferenceDetails": details,
        "notes": "API Inference" if entry[KEY] is not None else "Web App Inference",
        "pricePerUnitUsd": sku.price_usd,
        "sku": sku.name,
        "timestamp": iso_ms(entry[TS]),
        "units": entry[UNITS],
    }


CSV_COLUMNS = (
    "timestamp",
    "sku",
    "notes",
    "units",
    "pricePerUnitUsd",
    "amount",
    "currency",
    "promptTokens",
    "completionTokens",
    "inferenceExecutionTime",
    "requestId",
)


def entry_csv_row(entry: tuple, ledger: Ledger) -> list:
    sku = SKUS[entry[SKU]]
    request = entry[REQ]
    return [
        iso_ms(entry[TS]),
        sku.name,
        "API Inference" if entry[KEY] is not None else "Web App Inference",
        repr(entry[UNITS]),
        repr(sku.price_usd),
        repr(entry[AMOUNT]),
        CURRENCIES[entry[CUR]],
        "" if entry[PROMPT] is None else entry[PROMPT],
        "" if entry[COMPLETION] is None else entry[COMPLETION],
        "" if entry[EXEC_MS] is None else entry[EXEC_MS],
        "" if request is None else ledger.request_id(request),
    ]


def model_of(entry: tuple):
    return MODELS_BY_ID[SKUS[entry[SKU]].model_id]
