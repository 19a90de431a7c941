"""Balances, rate limits and their log, usage analytics, usage history (JSON and CSV pages)
and the sunset /billing/usage."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from accounts.sandbox import seed as demo
from accounts.sandbox.catalog import CURRENCIES, MODELS, MODELS_BY_ID, SKUS
from accounts.sandbox.clock import from_ms, iso_ms, midnight_ms, to_ms
from accounts.sandbox.cursor import CursorError, read_cursor, sign_cursor
from accounts.sandbox.ledger import (
    ALL_KEYS,
    AMOUNT,
    CSV_COLUMNS,
    CUR,
    DIEM,
    KEY,
    SEQ,
    SKU,
    TS,
    UNITS,
    entry_csv_row,
    entry_json,
)
from accounts.sandbox.responses import ApiError, SandboxResponse, rounded
from accounts.sandbox.rules import (
    ANALYTICS_MAX_DAYS,
    CURSOR_TTL_MS,
    CURSOR_WITH_FILTERS,
    INVALID_CURSOR,
    PAGE_SIZE_MAX,
    PAGE_SIZE_MIN,
    TOP_N,
    USAGE_SUNSET,
    USAGE_SUNSET_HEADERS,
)
from accounts.sandbox.validation import Validation, day_param, enum_message, single, timestamp_param

_LOOKBACK = re.compile(r"^[1-9]\d*d$")


class BillingRoutes:
    """The billing and rate-limit handlers, mixed into Sandbox (they run under its lock)."""

    # --- rate limits ----------------------------------------------------------------------------
    def _balances(self, now_ms: int) -> tuple[float, float]:
        _usd, diem_today = self.ledger.sums(ALL_KEYS, midnight_ms(now_ms), now_ms + 1)
        diem = max(0.0, self.diem_epoch_allocation - diem_today)
        return round(self.usd_balance, 2), round(diem, 4)

    def _rate_limits(self, *, record, now_ms, **_):
        usd, diem = self._balances(now_ms)
        models = []
        for model in MODELS:
            limits = [{"amount": model.rpm, "type": "RPM"}, {"amount": model.rpd, "type": "RPD"}]
            if model.tpm is not None:
                limits.append({"amount": model.tpm, "type": "TPM"})
            models.append({"apiModelId": model.id, "rateLimits": limits})
        data = {
            "accessPermitted": usd > 0 or diem > 0,
            "apiTier": {"id": "paid", "isCharged": True},
            "balances": {"USD": usd, "DIEM": diem},
            "keyExpiration": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "nextEpochBegins": iso_ms(midnight_ms(now_ms) + demo.DAY_MS),
            "rateLimits": models,
        }
        return 200, {"data": data}, {}

    def _rate_limits_log(self, **_):
        latest = sorted(self._rate_limit_log, key=lambda item: item["ms"], reverse=True)[:50]
        data = [
            {
                "apiKeyId": item["apiKeyId"],
                "modelId": item["modelId"],
                "rateLimitTier": item["rateLimitTier"],
                "rateLimitType": item["rateLimitType"],
                "timestamp": iso_ms(item["ms"]),
            }
            for item in latest
        ]
        return 200, {"data": data, "object": "list"}, {}

    # --- billing ------------------------------------------------------------------------------
    def _balance(self, *, now_ms, **_):
        usd, diem = self._balances(now_ms)
        currency = "DIEM" if diem > 0 else ("USD" if usd > 0 else None)
        payload = {
            "canConsume": usd > 0 or diem > 0,
            "consumptionCurrency": currency,
            "balances": {"diem": diem, "usd": usd},
            "diemEpochAllocation": self.diem_epoch_allocation,
        }
        return 200, payload, {}

    def _usage_sunset(self, **_):
        raise ApiError(410, USAGE_SUNSET, headers=dict(USAGE_SUNSET_HEADERS))

    def _usage_analytics(self, *, query, now_ms, **_):
        check = Validation()
        lookback = single(query, "lookback")
        start_date = single(query, "startDate")
        end_date = single(query, "endDate")
        if start_date is not None or end_date is not None:
            start_day = day_param(check, "startDate", start_date)
            end_day = day_param(check, "endDate", end_date)
            check.raise_if_failed()
            if end_day < start_day:
                check.field("endDate", message="endDate must not be before startDate")
                check.raise_if_failed()
            start_ms = to_ms(datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC))
            end_ms = (
                to_ms(datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)) + demo.DAY_MS
            )
            label = f"{start_date}:{end_date}"
        else:
            label = lookback or "7d"
            if not _LOOKBACK.match(label):
                check.field("lookback", message='Invalid lookback: use a number of days like "7d"')
                check.raise_if_failed()
            days = int(label[:-1])
            if days > ANALYTICS_MAX_DAYS:
                check.field("lookback", message=f"Lookback must be at most {ANALYTICS_MAX_DAYS}d")
                check.raise_if_failed()
            end_ms = midnight_ms(now_ms) + demo.DAY_MS
            start_ms = end_ms - days * demo.DAY_MS
        cache_key = (
            self.ledger.version,
            tuple(sorted(self._key_names.items())),
            start_ms,
            end_ms,
            label,
        )
        cached = self._analytics_cache.get(cache_key)
        if cached is None:
            cached = self._analytics(start_ms, min(end_ms, now_ms + 1), end_ms, label)
            self._analytics_cache = {cache_key: cached}
        return 200, cached, {}

    def _analytics(self, start_ms: int, until_ms: int, end_ms: int, label: str) -> dict:
        days = list(range(start_ms, end_ms, demo.DAY_MS))
        by_date = {day: [0.0, 0.0] for day in days}
        models: dict[str, dict] = {}
        keys: dict[str | None, list[float]] = {}
        model_daily: dict[str, dict[int, float]] = {}
        key_daily: dict[str | None, dict[int, float]] = {}
        for entry in self.ledger.between(start_ms, until_ms):
            day = entry[TS] - (entry[TS] - start_ms) % demo.DAY_MS
            spent = -entry[AMOUNT]
            is_diem = entry[CUR] == DIEM
            usd, diem = (0.0, spent) if is_diem else (spent, 0.0)
            totals = by_date.get(day)
            if totals is not None:
                totals[0] += usd
                totals[1] += diem
            sku = SKUS[entry[SKU]]
            model = models.get(sku.model_id)
            if model is None:
                model = models[sku.model_id] = {"usd": 0.0, "diem": 0.0, "units": 0.0, "kinds": {}}
            model["usd"] += usd
            model["diem"] += diem
            model["units"] += entry[UNITS]
            kind = model["kinds"].setdefault(sku.kind, [0.0, 0.0, 0.0])
            kind[0] += usd
            kind[1] += diem
            kind[2] += entry[UNITS]
            daily = model_daily.setdefault(sku.model_id, {})
            daily[day] = daily.get(day, 0.0) + spent
            key_totals = keys.setdefault(entry[KEY], [0.0, 0.0, 0.0])
            key_totals[0] += usd
            key_totals[1] += diem
            key_totals[2] += entry[UNITS]
            daily = key_daily.setdefault(entry[KEY], {})
            daily[day] = daily.get(day, 0.0) + spent
        by_model = []
        for model_id, totals in sorted(
            models.items(), key=lambda item: item[1]["usd"] + item[1]["diem"], reverse=True
        ):
            model = MODELS_BY_ID[model_id]
            row = {
                "modelName": model.name,
                "unitType": model.unit_type,
                "modelType": model.model_type,
                "totalUsd": rounded(totals["usd"]),
                "totalDiem": rounded(totals["diem"]),
                "totalUnits": rounded(totals["units"]),
            }
            if len(totals["kinds"]) > 1:
                row["breakdown"] = [
                    {
                        "type": kind,
                        "usd": rounded(v[0]),
                        "diem": rounded(v[1]),
                        "units": rounded(v[2]),
                    }
                    for kind, v in sorted(
                        totals["kinds"].items(),
                        key=lambda item: item[1][0] + item[1][1],
                        reverse=True,
                    )
                ]
            by_model.append(row)
        top_models = [row["modelName"] for row in by_model[:TOP_N]]
        top_model_ids = [
            mid
            for mid, _ in sorted(
                models.items(), key=lambda item: item[1]["usd"] + item[1]["diem"], reverse=True
            )
        ][:TOP_N]

        def key_name(key_id):
            return "Web App" if key_id is None else self._key_names.get(key_id, "Deleted key")

        ranked_keys = sorted(keys.items(), key=lambda item: item[1][0] + item[1][1], reverse=True)
        by_key = [
            {
                "apiKeyId": key_id,
                "description": key_name(key_id),
                "totalUsd": rounded(totals[0]),
                "totalDiem": rounded(totals[1]),
                "totalUnits": rounded(totals[2]),
            }
            for key_id, totals in ranked_keys
        ]
        top_keys = [key_id for key_id, _ in ranked_keys[:TOP_N]]
        by_model_daily = []
        by_key_daily = []
        for day in days:
            point = {"date": day}
            for model_id in top_model_ids:
                point[MODELS_BY_ID[model_id].name] = rounded(model_daily[model_id].get(day, 0.0))
            by_model_daily.append(point)
            point = {"date": day}
            for key_id in top_keys:
                name = key_name(key_id)
                point[name] = rounded(point.get(name, 0.0) + key_daily[key_id].get(day, 0.0))
            by_key_daily.append(point)
        return {
            "lookback": label,
            "byDate": [
                {
                    "date": from_ms(day).date().isoformat(),
                    "USD": rounded(v[0]),
                    "DIEM": rounded(v[1]),
                }
                for day, v in sorted(by_date.items(), reverse=True)
            ],
            "byModel": by_model,
            "byModelDaily": by_model_daily,
            "topModels": top_models,
            "byKey": by_key,
            "byKeyDaily": by_key_daily,
            "topKeyNames": [key_name(key_id) for key_id in top_keys],
        }

    def _usage_history(self, *, query, headers, now_ms, **_):
        check = Validation()
        cursor = single(query, "cursor")
        filters = [
            name
            for name in ("currency", "startTimestamp", "endTimestamp", "pageSize")
            if name in query
        ]
        if cursor is not None:
            if filters:
                for name in filters:
                    check.field(name, message="Not allowed alongside a cursor")
                raise ApiError(400, CURSOR_WITH_FILTERS, details=check.details)
            walk = self._read_walk(cursor, now_ms)
        else:
            walk = self._new_walk(check, query, now_ms)
        found = self.ledger.walk(
            after=walk["after"],
            start_ms=walk["s"],
            end_ms=walk["e"],
            currency=walk["c"],
            max_seq=walk["m"],
            limit=walk["p"] + 1,
        )
        page, more = found[: walk["p"]], len(found) > walk["p"]
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = sign_cursor(
                self._cursor_secret,
                {
                    "a": self.account_id,
                    "c": walk["c"],
                    "e": walk["e"],
                    "p": walk["p"],
                    "m": walk["m"],
                    "t": last[TS],
                    "q": last[SEQ],
                    "i": now_ms,
                },
            )
        if "text/csv" in headers.get("accept", ""):
            return self._csv_page(page, next_cursor, now_ms)
        data = [entry_json(entry, self.ledger) for entry in page]
        return 200, {"data": data, "nextCursor": next_cursor}, {}

    def _new_walk(self, check: Validation, query, now_ms: int) -> dict:
        currency = single(query, "currency")
        if currency is not None and currency not in CURRENCIES:
            check.field("currency", message=enum_message(CURRENCIES, currency))
        size_text = single(query, "pageSize")
        size = PAGE_SIZE_MAX
        if size_text is not None:
            if not re.fullmatch(r"\d{1,7}", size_text):
                check.field("pageSize", message="Expected integer, received string")
            else:
                size = int(size_text)
                if size < PAGE_SIZE_MIN:
                    check.field(
                        "pageSize",
                        message=f"Number must be greater than or equal to {PAGE_SIZE_MIN}",
                    )
                elif size > PAGE_SIZE_MAX:
                    check.field(
                        "pageSize", message=f"Number must be less than or equal to {PAGE_SIZE_MAX}"
                    )
        start_ms = timestamp_param(check, "startTimestamp", single(query, "startTimestamp"))
        end_ms = timestamp_param(check, "endTimestamp", single(query, "endTimestamp"))
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            check.field("endTimestamp", message="endTimestamp must be later than startTimestamp")
        check.raise_if_failed()
        return {
            "after": None,
            "s": start_ms,
            "e": end_ms,
            "c": None if currency is None else CURRENCIES.index(currency),
            "p": size,
            "m": self.ledger.last_seq,
        }

    def _read_walk(self, token: str, now_ms: int) -> dict:
        try:
            payload = read_cursor(self._cursor_secret, token)
            if payload.get("a") != self.account_id:
                raise CursorError("cursor belongs to another user")
            if now_ms - int(payload["i"]) > CURSOR_TTL_MS:
                raise CursorError("cursor expired")
            return {
                "after": (int(payload["t"]), int(payload["q"])),
                "s": None,
                "e": None if payload["e"] is None else int(payload["e"]),
                "c": None if payload["c"] is None else int(payload["c"]),
                "p": int(payload["p"]),
                "m": int(payload["m"]),
            }
        except (CursorError, KeyError, TypeError, ValueError):
            raise ApiError(
                400,
                INVALID_CURSOR,
                details={
                    "_errors": [],
                    "cursor": {"_errors": ["Invalid cursor"]},
                },
            ) from None

    def _csv_page(self, page: list[tuple], next_cursor: str | None, now_ms: int):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in page:
            writer.writerow(entry_csv_row(entry, self.ledger))
        # Each page's filename is stamped with the export time to the millisecond; pages
        # served within the same millisecond get consecutive stamps so names stay unique and
        # sort in walk order.
        stamp_ms = max(now_ms, self._last_csv_stamp_ms + 1)
        self._last_csv_stamp_ms = stamp_ms
        stamp = from_ms(stamp_ms).strftime("%Y%m%dT%H%M%S") + f"{stamp_ms % 1000:03d}Z"
        headers = {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename=billing-usage-history-{stamp}.csv",
        }
        if next_cursor:
            headers["x-next-cursor"] = next_cursor
        return SandboxResponse(200, headers, out.getvalue().encode())
