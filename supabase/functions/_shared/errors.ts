/**
 * The one error type of the API: an HTTP status, a stable snake_case code and the exact message clients match on.
 * Control characters (C0, DEL, C1) of the message become U+FFFD, as in SQL's internal.fail: messages may echo
 * client input, and no message may carry one (docs/errors.md). `fields` are further members of the error body,
 * after `request_id` (a 409 duplicate's `purchase_id` or `refund_id`).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message.replace(/\p{Cc}/gu, "\uFFFD"));
    this.name = "ApiError";
  }
}

/** The answer when the database cannot be reached or times out; clients may retry after a second. */
export function serviceUnavailable(): ApiError {
  return new ApiError(503, "service_unavailable", "Service unavailable", {
    "Retry-After": "1",
  });
}

/**
 * Turns a `PTxxx` SQLSTATE raised by `internal.fail` into its ApiError, or returns null for any
 * other code. A detail `retry_after=<seconds>` (the public intake limit) becomes Retry-After; a
 * detail that is a JSON object (internal.fail's `fields`) gives the error body's further members.
 */
export function fromSqlState(
  sqlState: string | undefined,
  message: string,
  hint: string | undefined | null,
  detail?: string | null,
): ApiError | null {
  const match = /^PT(\d{3})$/.exec(sqlState ?? "");
  if (!match) return null;
  const retryAfter = /^retry_after=(\d+)$/.exec(detail ?? "");
  const fields = detail?.startsWith("{") ? JSON.parse(detail) as Record<string, unknown> : {};
  return new ApiError(
    Number(match[1]),
    hint || "error",
    message,
    retryAfter ? { "Retry-After": retryAfter[1] } : {},
    fields,
  );
}

/** Whether a SQLSTATE means the database is unavailable rather than the request wrong: class 08 (connection exception), 53 (insufficient resources) or 57 (operator intervention, including statement timeout 57014). */
export function isUnavailableSqlState(sqlState: string): boolean {
  return /^(08|53|57)/.test(sqlState);
}
