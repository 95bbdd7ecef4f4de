import { sha256Hex } from "./hash.ts";

/** The stored form of an API key: lower-case hex SHA-256 of the whole key. */
export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** Whether a header value can be an API key at all (printable ASCII, 1-256 chars); others are refused without a database call. */
export function isWellFormedApiKey(key: string): boolean {
  return /^[\x21-\x7e]{1,256}$/.test(key);
}
