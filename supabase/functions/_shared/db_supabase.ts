import { createClient } from "@supabase/supabase-js";
import type { Db, RpcArgs } from "./db.ts";
import { fromSqlState, isUnavailableSqlState, serviceUnavailable } from "./errors.ts";

/** Options of the hosted adapter. */
export interface SupabaseDbOptions {
  fetch?: typeof fetch;
  /** Longest one PostgREST call may take before it answers 503; default 1500 ms (503 within 2 s). */
  deadlineMs?: number;
  /** Receives the server-log line of a misconfigured project (PGRST106, PGRST202); default console.error. */
  log?: (line: string) => void;
}

/**
 * What the project's owner must change when PostgREST cannot reach the API functions at all: the
 * Data API is off or does not expose `public` (PGRST106), or its schema cache lacks the function
 * (PGRST202: migrations not applied, or the cache not reloaded). Every call fails the same way, so
 * the call answers 503 (check 8 of docs/errors.md, "The order of the checks") and the server log names the setting;
 * null for any other code.
 */
function postgrestSetting(code: string, fn: string): string | null {
  if (code === "PGRST106") {
    return "the Data API does not expose the schema public: enable the Data API and add public to its " +
      "Exposed schemas (Dashboard: Project Settings → Data API), or set DATABASE_URL";
  }
  if (code === "PGRST202") {
    return `the Data API's schema cache has no function public.${fn}: apply the migrations (supabase db push), ` +
      "then reload the cache (notify pgrst, 'reload schema')";
  }
  return null;
}

/**
 * The hosted adapter: supabase-js `.rpc()` through PostgREST with the service key.
 * PostgREST answers a `PTxxx` SQLSTATE with that HTTP status and `{code, message, hint}`,
 * so the same SQL errors map to the same ApiErrors as with the direct adapter.
 */
export function createSupabaseDb(url: string, serviceKey: string, options: SupabaseDbOptions = {}): Db {
  const send = options.fetch ?? fetch;
  const deadlineMs = options.deadlineMs ?? 1500;
  const log = options.log ?? console.error;
  const client = createClient(url, serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: {
      // A call that outlives the deadline becomes a fetch error (status 0 below): 503.
      // supabase-js parses a success body with JSON.parse, which would round long numbers; a
      // success body is handed to it as one JSON string instead, so `data` is PostgREST's JSON
      // text, as Postgres wrote it. Errors pass through untouched.
      fetch: async (input, init) => {
        const res = await send(input, { ...init, signal: AbortSignal.timeout(deadlineMs) });
        if (!res.ok) return res;
        return new Response(JSON.stringify(await res.text()), { status: res.status, headers: res.headers });
      },
    },
  });
  return {
    async rpc(fn: string, args: RpcArgs): Promise<string> {
      const { data, error, status } = await client.rpc(fn, args);
      if (!error) return data as string;
      const apiError = fromSqlState(error.code, error.message, error.hint, error.details);
      if (apiError) throw apiError;
      const setting = postgrestSetting(error.code, fn);
      if (setting) {
        log(JSON.stringify({ error: `PostgREST ${error.code} ${error.message}`, setting }));
        throw serviceUnavailable();
      }
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
