/**
 * The client address the public intake limit counts (API.md §7): the X-Forwarded-For entry that
 * the nearest trusted proxy appended, counted from the right: `hops` entries (1 = the rightmost,
 * the one the proxy in front of this server wrote). Entries further left were written by the
 * client or by proxies we do not trust, so rotating them changes nothing. With fewer entries
 * than hops, the leftmost one; without the header, the connection's own address (`remote`).
 */
export function clientAddress(forwardedFor: string | null, remote: string | null, hops: number): string | null {
  const entries = (forwardedFor ?? "").split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) return remote;
  return entries[Math.max(0, entries.length - hops)];
}
