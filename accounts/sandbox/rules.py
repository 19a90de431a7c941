"""The API's limits and the sandbox's error texts (tests reuse them)."""

MAX_ACTIVE_KEYS = 500
CREATIONS_PER_MINUTE = 20
REQUESTS_PER_MINUTE = 500  # reported in the rate-limit headers
FAILED_REQUESTS_LIMIT = 20
FAILED_REQUESTS_WINDOW_MS = 30_000
FAILED_REQUESTS_BLOCK_MS = 30_000
LIMIT_MAX = 9_999_999_999
DESCRIPTION_MAX = 64
ANALYTICS_MAX_DAYS = 90
PAGE_SIZE_MIN, PAGE_SIZE_MAX = 10, 1000
CURSOR_TTL_MS = 24 * 3_600_000
TOP_N = 8

KEY_TYPES = ("INFERENCE", "ADMIN")
LIMIT_PERIODS = ("EPOCH", "MONTH", "LIFETIME")
MODEL_PRIVACIES = ("ALL", "PRIVATE_TEXT", "PRIVATE_ONLY")

# Error texts (tests reuse them).
AUTH_FAILED = "Authentication failed"
ADMIN_REQUIRED = (
    "Authentication failed: this endpoint requires an ADMIN API key; "
    "INFERENCE keys may only call inference endpoints and /api_keys/rate_limits."
)
INVALID_PARAMETERS = "Invalid request parameters"
KEY_NOT_FOUND = "API key not found"
TOO_MANY_KEYS = (
    f"You have reached the maximum of {MAX_ACTIVE_KEYS} active API keys. "
    "Delete unused keys before creating new ones."
)
CREATION_RATE_LIMITED = (
    f"Rate limit exceeded: API key creation is limited to {CREATIONS_PER_MINUTE} requests "
    "per minute. Try again after x-ratelimit-reset-requests."
)
FAILED_REQUESTS_BLOCKED = (
    "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s "
    "and try again. See https://docs.venice.ai/api-reference/rate-limiting for more information."
)
INVALID_CURSOR = (
    "Invalid cursor: it is expired, was tampered with, or was issued to another user. "
    "Restart the walk from the first page."
)
CURSOR_WITH_FILTERS = (
    "A cursor carries the filters of the walk it continues; send the cursor and nothing else."
)
USAGE_SUNSET = (
    "GET /api/v1/billing/usage was sunset on 2026-09-16. Use GET /api/v1/billing/usage-history "
    "instead: replace page and limit with pageSize and the nextCursor of each response, and "
    "startDate and endDate with startTimestamp and endTimestamp."
)
USAGE_SUNSET_HEADERS = {
    "Deprecation": "@1783555200",
    "Sunset": "Wed, 16 Sep 2026 00:00:00 GMT",
    "Link": '</api/v1/billing/usage-history>; rel="successor-version"',
}
INJECTED_ERRORS = {
    400: INVALID_PARAMETERS,
    401: AUTH_FAILED,
    403: "Unauthorized access",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "An unknown error occurred",
    502: "Bad gateway",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "The request took too long to complete and was timed-out.",
}
