import { createClient } from "@supabase/supabase-js";
import type { Db, RpcArgs } from "./db.ts";
import { fromSqlState, serviceUnavailable } from "./errors.ts";

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
    global: { fetch: fetchImpl },
  });
  return {
    async rpc(fn: string, args: RpcArgs): Promise<unknown> {
      const { data, error, status } = await client.rpc(fn, args);
      if (!error) return data;
      const apiError = fromSqlState(error.code, error.message, error.hint);
      if (apiError) throw apiError;
      // status 0: fetch itself failed; 502-504 and PGRST000-003: PostgREST lost the database.
      if (status === 0 || status >= 502 || /^PGRST00[0-3]$/.test(error.code)) {
        throw serviceUnavailable();
      }
      throw new Error(`rpc ${fn} failed with HTTP ${status}: ${error.code} ${error.message}`);
    },
    close: () => Promise.resolve(),
  };
}
