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

// An IPv6 address as its eight 16-bit groups (a trailing dotted IPv4 counts as two), or null.
function ipv6Groups(ip: string): number[] | null {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Parts(dotted[1]);
    if (!v4) return null;
    text = text.slice(0, -dotted[1].length) +
      `${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

function isPrivateIpv6(ip: string): boolean {
  const g = ipv6Groups(ip);
  if (!g) return true;
  const embeddedV4 = (hi: number, lo: number) => isPrivateIpv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 6)) return g[6] === 0 || embeddedV4(g[6], g[7]); // ::, ::1, IPv4-compatible
  if (zeros(0, 5) && g[5] === 0xffff) return embeddedV4(g[6], g[7]); // IPv4-mapped
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return embeddedV4(g[6], g[7]); // NAT64
  if (g[0] === 0x2002) return embeddedV4(g[1], g[2]); // 6to4
  return (g[0] & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (g[0] & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (g[0] & 0xffc0) === 0xfec0 || // site-local fec0::/10
    (g[0] & 0xff00) === 0xff00 || // multicast ff00::/8
    (g[0] === 0x2001 && g[1] === 0x0db8) || // documentation 2001:db8::/32
    (g[0] === 0x0100 && zeros(1, 4)); // discard-only 100::/64
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
