// Where webhooks may be sent. Outside local development a webhook URL must be http(s) and
// must not reach this server's own network: loopback, private, link-local, carrier-grade NAT,
// multicast or reserved addresses are refused (SSRF), whether written as an IP or behind a
// host name. Redirects are never followed (see webhooks.ts), so a public URL cannot bounce
// the request inside either.

/** Resolves a host name to IP addresses; the default uses Deno.resolveDns where the runtime has it. */
export type Resolver = (host: string) => Promise<string[]>;

function ipv4Parts(ip: string): number[] | null {
  const parts = ip.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

function isPrivateIpv4([a, b]: number[]): boolean {
  return a === 0 || a === 10 || a === 127 || a >= 224 || (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19));
}

function isPrivateIpv6(ip: string): boolean {
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return isPrivateIpv4(ipv4Parts(mapped[1]) ?? [0, 0]);
  return lower === "::" || lower === "::1" || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower) || /^ff/.test(lower);
}

/** Whether an IP literal (v4 or v6) is one the server must not call. */
export function isPrivateAddress(ip: string): boolean {
  const v4 = ipv4Parts(ip);
  return v4 ? isPrivateIpv4(v4) : isPrivateIpv6(ip);
}

async function defaultResolver(host: string): Promise<string[]> {
  const answers = await Promise.allSettled([Deno.resolveDns(host, "A"), Deno.resolveDns(host, "AAAA")]);
  return answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
}

/**
 * Why a webhook URL must not be called, or null when it may. With allowPrivate (local
 * development and tests) only the scheme is checked.
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
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "refused: private address";
  const literal = ipv4Parts(host) || host.includes(":");
  const addresses = literal ? [host] : await (options.resolve ?? defaultResolver)(host);
  if (addresses.length === 0) return "refused: host does not resolve";
  return addresses.some(isPrivateAddress) ? "refused: private address" : null;
}
