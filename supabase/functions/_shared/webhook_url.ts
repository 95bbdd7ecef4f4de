// Where webhooks may be sent. Outside local development a webhook URL must be http(s) on port
// 80 or 443 and must reach a public unicast address, whether written as an IP or behind a
// host name: loopback, private, link-local, carrier-grade NAT, multicast, reserved,
// documentation and transition ranges are refused (SSRF). Redirects are never followed (see
// webhooks.ts), so a public URL cannot bounce the request inside either.
import ipaddr from "ipaddr.js";

/** Resolves a host name to IP addresses; the default uses Deno.resolveDns where the runtime has it. */
export type Resolver = (host: string) => Promise<string[]>;

/** The host name could not be resolved right now; unlike a refusal, worth trying again later. */
export class DnsError extends Error {
  override name = "DnsError";
}

const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

function ipv4Of(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
}

// ipaddr.js names every special-purpose range (IANA registries); anything it does not name is
// "unicast". IPv6 must also be global unicast (2000::/3): the rest of the space is reserved,
// e.g. the deprecated IPv4-compatible ::/96, which ipaddr.js does not name.
function isPublic(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (address.kind() === "ipv4") return address.range() === "unicast";
  const v6 = address as ipaddr.IPv6;
  const g = v6.parts;
  const range = v6.range();
  // Forms whose packets go on to an embedded IPv4 address are judged by that address: a
  // receiver may well be reached through them (a DNS64 resolver answers 64:ff9b::/96 for
  // IPv4-only hosts). The local-use NAT64 prefix 64:ff9b:1::/48, IPv4-translated
  // ::ffff:0:0/96 and Teredo stay refused: they lead into someone's own network.
  if (range === "ipv4Mapped") return isPublic(v6.toIPv4Address());
  if (v6.match(NAT64_WELL_KNOWN)) return isPublic(ipv4Of(g[6], g[7]));
  if (range === "6to4") return isPublic(ipv4Of(g[1], g[2]));
  return range === "unicast" && v6.match(GLOBAL_UNICAST_V6);
}

/**
 * Whether an IP literal (v4 or v6) is one the server must not call. Anything else counts as
 * one: IPv4 only in dotted decimal (as URL and resolvers write it), no inet_aton shorthands.
 */
function isPrivateAddress(ip: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return !isPublic(ipaddr.IPv4.parse(ip));
  // ipaddr.js reads "::a.b.c.d" as IPv4-mapped, but it is the deprecated IPv4-compatible form
  // (::/96), refused like every address outside 2000::/3.
  if (!ipaddr.IPv6.isValid(ip) || /^::\d+\.\d+\.\d+\.\d+(%.*)?$/.test(ip)) return true;
  return !isPublic(ipaddr.IPv6.parse(ip));
}

// Both families: a name with an A record but no AAAA record is fine, but a family that fails
// for any other reason (timeout, server failure) might have held a private address, so the
// whole lookup fails and is tried again later. The lookup gets its own timeout: the
// attempt's timeout only starts with the request.
async function defaultResolver(host: string): Promise<string[]> {
  const signal = AbortSignal.timeout(5_000);
  const answers = await Promise.allSettled([
    Deno.resolveDns(host, "A", { signal }),
    Deno.resolveDns(host, "AAAA", { signal }),
  ]);
  const failed = answers.filter((a) => a.status === "rejected").map((a) => a.reason as Error);
  const hard = failed.find((e) => !(e instanceof Deno.errors.NotFound));
  if (hard || failed.length === answers.length) throw hard ?? failed[0];
  return answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
}

/**
 * Why a webhook URL must not be called (a permanent refusal: the delivery fails), or null
 * when it may. With allowPrivate (local development and tests) only the scheme is checked,
 * so local receivers may listen on any port.
 *
 * Throws DnsError when the host name does not resolve now: a resolver error (timeout, server
 * failure) or no address at all. That is retried, not refused. NXDOMAIN is retried too:
 * a receiver's DNS can be fixed while the delivery waits, and the 24 h retry window bounds
 * the attempts spent on a name that never comes back.
 */
export async function webhookUrlRefusal(
  raw: string,
  options: { allowPrivate: boolean; resolve?: Resolver },
): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "refused: not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "refused: only http and https URLs are allowed";
  if (options.allowPrivate) return null;
  // URL leaves the port empty when it is the scheme's default; 80 and 443 are accepted on
  // either scheme.
  if (url.port !== "" && url.port !== "80" && url.port !== "443") return "refused: only ports 80 and 443 are allowed";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "refused: private address";
  // URL has already turned every IPv4 spelling (hex, octal, one number) into dotted decimal.
  const literal = ipaddr.IPv4.isValidFourPartDecimal(host) || host.includes(":");
  let addresses: string[];
  if (literal) {
    addresses = [host];
  } else {
    try {
      addresses = await (options.resolve ?? defaultResolver)(host);
    } catch (error) {
      throw new DnsError(`cannot resolve ${host}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (addresses.length === 0) throw new DnsError(`cannot resolve ${host}: no address`);
  }
  return addresses.some(isPrivateAddress) ? "refused: private address" : null;
}
