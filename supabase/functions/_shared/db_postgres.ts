import postgres from "postgres";
import type { Db, RpcArgs } from "./db.ts";
import { fromSqlState, isUnavailableSqlState, serviceUnavailable } from "./errors.ts";

// postgres.js connection errors: the database is not there right now.
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

function isUnavailable(code: string): boolean {
  return UNAVAILABLE_CODES.has(code) || isUnavailableSqlState(code);
}

/** Options of the direct adapter. */
export interface PostgresDbOptions {
  /** Pool size; default 10. */
  max?: number;
  /** Seconds to wait for a connection before answering 503; default 5. */
  connectTimeout?: number;
  /** Longest a statement may run (lock waits included) before answering 503; default 10 s. */
  statementTimeoutMs?: number;
}

/** The direct adapter: postgres.js over `DATABASE_URL`, one `select public.fn(...)` per call. */
export function createPostgresDb(
  url: string,
  options: PostgresDbOptions = {},
): Db {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 5,
    idle_timeout: 60,
    connection: { statement_timeout: options.statementTimeoutMs ?? 10_000 },
    onnotice: () => {},
  });
  return {
    async rpc(fn: string, args: RpcArgs): Promise<unknown> {
      const names = Object.keys(args);
      const params = names.map((name, i) =>
        `${name} => $${i + 1}${typeof args[name] === "object" && args[name] !== null ? "::jsonb" : ""}`
      );
      // postgres.js serialises a value bound to a ::jsonb parameter itself.
      const values = names.map((name) => args[name]) as postgres.ParameterOrJSON<never>[];
      try {
        const rows = await sql.unsafe(
          `select public.${fn}(${params.join(", ")}) as result`,
          values,
          { prepare: true },
        );
        return rows[0].result;
      } catch (error) {
        const e = error as { code?: string; message: string; hint?: string };
        const apiError = fromSqlState(e.code, e.message, e.hint);
        if (apiError) throw apiError;
        if (isUnavailable(e.code ?? "")) throw serviceUnavailable();
        throw error;
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
