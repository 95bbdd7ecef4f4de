// How the direct adapter connects, derived without connecting (and without loading postgres.js,
// which db_from_env.ts imports only when DATABASE_URL is set).

/** Whether a connection string points at Supavisor's transaction pooler (port 6543), where prepared statements fail. */
export function isTransactionPooler(url: string): boolean {
  return new URL(url).port === "6543";
}

/**
 * The TLS mode of a connection: "require" for Supabase's hosts (the poolers
 * `*.pooler.supabase.com` and the direct `db.<ref>.supabase.co`), which take TLS and refuse
 * plain connections once "Enforce SSL" is on; undefined (postgres.js's own default, no TLS)
 * elsewhere, and whenever the URL says `sslmode` or `ssl` itself, which then decides.
 */
export function sslFor(url: string): "require" | undefined {
  const { hostname, searchParams } = new URL(url);
  if (searchParams.has("sslmode") || searchParams.has("ssl")) return undefined;
  return /\.pooler\.supabase\.com$|\.supabase\.co$/i.test(hostname) ? "require" : undefined;
}

/** The direct adapter's pool: how many connections at most, and how long one may idle before it closes (0: never). */
export interface PoolDefaults {
  max: number;
  idleTimeoutSeconds: number;
}

/**
 * The pool without DATABASE_POOL_SIZE. Under Supabase's Edge Runtime every isolate holds its
 * own pool against the pooler's client limit (200 on the smallest computes), and isolates come
 * and go with load: 2 connections each, closed after 10 s idle (docs/operations.md, "Connections
 * per isolate"). Elsewhere (a long-lived server): 5, never closed, since postgres.js re-arms an
 * idle timer after every query, a tenth of the server's CPU per request in the profile.
 */
export function poolDefaults(edgeRuntime: boolean): PoolDefaults {
  return edgeRuntime ? { max: 2, idleTimeoutSeconds: 10 } : { max: 5, idleTimeoutSeconds: 0 };
}

/** Whether this code runs under Supabase's Edge Runtime (hosted, or `supabase functions serve`). */
export function isEdgeRuntime(): boolean {
  return "EdgeRuntime" in globalThis;
}
