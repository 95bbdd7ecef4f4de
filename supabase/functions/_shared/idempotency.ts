import { sha256Hex } from "./hash.ts";

/** What the SQL function `public.idempotent` needs besides the action and its arguments. */
export interface Idempotency {
  key: string;
  fingerprint: string;
}

/** Whether an Idempotency-Key header value is acceptable: 1-255 printable ASCII characters. */
export function isValidIdempotencyKey(key: string): boolean {
  return /^[\x20-\x7e]{1,255}$/.test(key);
}

// JSON with object keys sorted at every level, so key order and whitespace of the request
// never change the fingerprint.
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a < b ? -1 : 1);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// A validated field that is an array of strings is a set of UUIDs (uuidArray: deduplicated, and
// kept in the order sent only where an answer names the first offending id), so its order does
// not change the request (docs/guide.md, "Retrying safely: Idempotency-Key"): it is fingerprinted sorted.
function withSetsSorted(args: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(args)) {
    const isSet = Array.isArray(value) && value.every((item) => typeof item === "string");
    sorted[name] = isSet ? value.toSorted() : value;
  }
  return sorted;
}

/**
 * The request's fingerprint: SHA-256 of the action and its validated, canonicalised body, with
 * set-valued fields sorted. Defaults known only to the database (create_payout's currency) are
 * applied there: see public.idempotent.
 */
export function fingerprint(action: string, args: Record<string, unknown>): string {
  return sha256Hex(canonicalJson({ action, args: withSetsSorted(args) }));
}
