import ipaddr from "ipaddr.js";

/** What every entry that is not an IP address counts as, never its text (docs/guide.md, "The intake guard"). */
const UNKNOWN_CLIENT = "unknown";

// Longer than any spelling of an address with brackets, zone and port: longer text is not parsed at all.
const MAX_ENTRY_LENGTH = 100;

/**
 * The X-Forwarded-For entry the public intake limit counts (docs/guide.md, "The intake guard"): the entry that
 * the nearest trusted proxy appended, counted from the right: `hops` entries (1 = the rightmost,
 * the one the proxy in front of this server wrote). Entries further left were written by the
 * client or by proxies we do not trust, so rotating them changes nothing. With fewer entries
 * than hops, the leftmost one. Null without the header or with `hops` 0 (no proxy: the header
 * is ignored): then the connection's own address counts.
 */
function forwardedEntry(forwardedFor: string | null, hops: number): string | null {
  if (hops === 0) return null;
  const entries = (forwardedFor ?? "").split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) return null;
  return entries[Math.max(0, entries.length - hops)];
}

// The address an entry spells, without port, brackets and zone; null when it spells none.
function parseEntry(entry: string | null): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const text = entry?.trim() ?? "";
  if (text === "" || text.length > MAX_ENTRY_LENGTH) return null;
  // `[v6]` or `[v6]:port`; `v4:port` (exactly one colon); a bare IPv6 has two or more colons.
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  const unported = bracketed ? bracketed[1] : /^[^:]+:\d{1,5}$/.test(text) ? text.slice(0, text.indexOf(":")) : text;
  const address = unported.split("%")[0];
  return ipaddr.isValid(address) ? ipaddr.parse(address) : null;
}

/**
 * The form an address is counted in, so that every spelling of one client is one bucket: port,
 * brackets and zone dropped (`[fe80::1%eth0]:443` → `fe80::/64`), hex digits in lower case,
 * zeros compressed, IPv4-mapped IPv6 as IPv4 (`::ffff:1.2.3.4` → `1.2.3.4`), IPv4 in dotted
 * decimal (legacy spellings such as `127.1` read as inet_aton does), and IPv6 as its /64 prefix
 * (`2001:db8:1:2::/64`), the part one subscriber gets. Anything else, the empty string and null
 * included, is UNKNOWN_CLIENT.
 */
function canonicalClient(entry: string | null): string {
  const parsed = parseEntry(entry);
  if (parsed === null) return UNKNOWN_CLIENT;
  if (parsed.kind() === "ipv4") return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${new ipaddr.IPv6([...v6.parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}

/** Whether an entry is an unspecified address (`0.0.0.0`, `::`): a listener's, not a caller's. */
function isUnspecified(entry: string | null): boolean {
  return parseEntry(entry)?.range() === "unspecified";
}

/**
 * The counted client of a request, from X-Forwarded-For and the connection's address, in
 * canonical form. When it falls back to the connection's address and that is unspecified
 * (`0.0.0.0`: what a hosted Supabase worker sees, the edge runtime's own listener rather than the
 * caller or the gateway), every caller shares one budget: `warn` is told once, for this counter's
 * lifetime (one per process in the deployed function).
 */
export function clientCounter(
  hops: number,
  warn: (event: Record<string, unknown>) => void,
): (forwardedFor: string | null, remote: string | null) => string {
  let warned = false;
  return (forwardedFor, remote) => {
    const forwarded = forwardedEntry(forwardedFor, hops);
    const client = canonicalClient(forwarded ?? remote);
    if (!warned && forwarded === null && isUnspecified(remote)) {
      warned = true;
      const why = hops === 0 ? "TRUSTED_PROXY_HOPS=0: X-Forwarded-For is ignored" : "no X-Forwarded-For arrived";
      warn({
        warning: "intake_client_unspecified",
        message: `The public intake limit counts the connection's address ${remote} (${why}): an unspecified ` +
          `address, not the caller's, so every caller shares one limit. See docs/guide.md, "The intake guard".`,
      });
    }
    return client;
  };
}
