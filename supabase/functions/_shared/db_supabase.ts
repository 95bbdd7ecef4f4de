import { createClient } from "@supabase/supabase-js";
import type { Db, RpcArgs } from "./db.ts";
import { fromSqlState, isUnavailableSqlState, serviceUnavailable } from "./errors.ts";

/** How long one PostgREST call may take before it counts as the database being unavailable. */
const TIMEOUT_MS = 15_000;

/**
 * The hosted adapter: supabase-js `.rpc()` through PostgREST with the service key.
 * PostgREST answers a `PTxxx` SQLSTATE with that HTTP status and `{code, message, hint}`,
 * so the same SQL errors map to the same ApiErrors as with the direct adapter.
 */
export function createSupabaseDb(
  url: string,
  serviceKey: string,
  fetchImpl: typeof fetch = fetch,
): Db {
  const client = createClient(url, serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    // A call that hangs becomes a fetch error (status 0 below), so the API answers 503.
    global: { fetch: (input, init) => fetchImpl(input, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) }) },
  });
  return {
    async rpc(fn: string, args: RpcArgs): Promise<unknown> {
      const { data, error, status } = await client.rpc(fn, args);
      if (!error) return data;
      const apiError = fromSqlState(error.code, error.message, error.hint);
      if (apiError) throw apiError;
      // status 0: fetch itself failed or timed out; 502-504 and PGRST000-003: PostgREST lost the
      // database; a connection, resource or timeout SQLSTATE comes back as a plain 500.
      if (status === 0 || status >= 502 || /^PGRST00[0-3]$/.test(error.code) || isUnavailableSqlState(error.code)) {
        throw serviceUnavailable();
      }
      throw new Error(`rpc ${fn} failed with HTTP ${status}: ${error.code} ${error.message}`);
    },
    close: () => Promise.resolve(),
  };
}
