/** The stored form of an API key: lower-case hex SHA-256 of the whole key. */
export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(key),
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a header value can be an API key at all (printable ASCII, 1-256 chars); others are refused without a database call. */
export function isWellFormedApiKey(key: string): boolean {
  return /^[\x21-\x7e]{1,256}$/.test(key);
}
