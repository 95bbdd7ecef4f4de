import postgres from "postgres";
import type { Db, RpcArgs } from "./db.ts";
import { ApiError, fromSqlState, isUnavailableSqlState, serviceUnavailable } from "./errors.ts";
import { Lanes } from "./lanes.ts";
import { isTransactionPooler, sslFor } from "./db_options.ts";

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
  /** Pool size; default 5 (db_options.ts poolDefaults: 2 under the Edge Runtime; the bench raises it). */
  max?: number;
  /** Seconds a connection may idle before it is closed (it reconnects on its next call); default 0, never. */
  idleTimeoutSeconds?: number;
  /**
   * Longest one call may take, waiting for a connection included, before it answers 503.
   * Default 1500 ms, so that an unreachable database is answered within 2 s of the request.
   */
  deadlineMs?: number;
  /**
   * Whether to use prepared statements; default: yes, except behind Supavisor's transaction
   * pooler (port 6543), where a prepared statement may land on another server connection.
   */
  prepare?: boolean;
}

/** The statement of one call: `select public.fn(a => $1, b => $2::jsonb)::text`, so the JSON comes back as text, untouched. */
export function rpcStatement(fn: string, args: RpcArgs): string {
  const params = Object.keys(args).map((name, i) =>
    `${name} => $${i + 1}${typeof args[name] === "object" && args[name] !== null ? "::jsonb" : ""}`
  );
  return `select public.${fn}(${params.join(", ")})::text as result`;
}

/**
 * The direct adapter: postgres.js over `DATABASE_URL`, one `select public.fn(...)::text` per
 * call, answering the JSON text as Postgres wrote it. Its connections are lanes (lanes.ts): a
 * call takes the one released last, so a backend that just ran a call runs the next.
 *
 * Outages are answered, not queued. The server cancels a statement at 80 % of the deadline
 * (statement_timeout: a 503, and its transaction rolls back). A call the database has not
 * answered by the deadline answers 503 and is cancelled: taken out of the driver's queue if it
 * was waiting for a connection, so it never runs later. When, in addition, the database has
 * answered no call at all for a whole deadline (refused, hanging or gone), the pool is replaced:
 * the old one is ended at once, so no hung connection is reused. While the database answers
 * others, a slow call never takes the pool down with it. Reconnects are retried within 250 ms
 * (the driver's own backoff grows to 20 s, which kept requests waiting long after the database
 * came back). Supabase's hosts get TLS unless the URL sets sslmode (db_options.ts sslFor).
 */
export function createPostgresDb(url: string, options: PostgresDbOptions = {}): Db {
  const deadlineMs = options.deadlineMs ?? 1500;
  const prepare = options.prepare ?? !isTransactionPooler(url);
  const ssl = sslFor(url);
  const open = () =>
    postgres(url, {
      max: 1,
      prepare,
      connect_timeout: deadlineMs / 1000,
      backoff: (retries: number) => Math.min(retries * 0.05, 0.25),
      // By default no idle timeout: postgres.js re-arms a Node timer after every query for it, a
      // tenth of the server's CPU per request in the profile; an idle connection stays open.
      idle_timeout: options.idleTimeoutSeconds ?? 0,
      ...(ssl ? { ssl } : {}),
      // Supavisor drops startup parameters: on Supabase the login role carries the timeout
      // (docs/operations.md, deploy step 3).
      connection: { statement_timeout: Math.round(deadlineMs * 0.8) },
      onnotice: () => {},
    });
  const connect = () => new Lanes(options.max ?? 5, open);
  let pool = connect();
  // When the database last answered a call (a row or an SQL error), by performance.now().
  let answeredAt = performance.now();

  function replaceIfSilent(stale: Lanes) {
    if (pool !== stale || performance.now() - answeredAt < deadlineMs) return;
    pool = connect();
    stale.end({ timeout: 0 }).catch(() => {});
  }

  return {
    async rpc(fn: string, args: RpcArgs): Promise<string> {
      // postgres.js serialises a value bound to a ::jsonb parameter itself (with JSON.stringify,
      // which writes raw JSON numbers verbatim).
      const values = Object.values(args) as postgres.ParameterOrJSON<never>[];
      const lanes = pool;
      const lane = lanes.take();
      const query = lane.sql.unsafe(rpcStatement(fn, args), values, { prepare });
      const release = () => lanes.release(lane);
      query.then(release, release);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // The driver's cancel is typed void but returns a promise that rejects when the
          // cancel request cannot reach the server either.
          Promise.resolve(query.cancel() as unknown).catch(() => {});
          replaceIfSilent(lanes);
          reject(serviceUnavailable());
        }, deadlineMs);
      });
      try {
        const rows = await Promise.race([query, deadline]);
        answeredAt = performance.now();
        // The statement yields exactly one row when it completes. Without it the answer was cut
        // off: postgres.js resolved the call with an empty result while the server shut down
        // (seen in the outage drill of tests/availability_test.ts). Its outcome is unknown, as
        // for a connection closed mid-call: 503, and the caller retries with its Idempotency-Key.
        if (rows.length === 0) throw serviceUnavailable();
        return rows[0].result ?? "null";
      } catch (error) {
        if (error instanceof ApiError) throw error;
        const e = error as { code?: string; message: string; hint?: string; detail?: string };
        if (e.code && !UNAVAILABLE_CODES.has(e.code)) answeredAt = performance.now();
        const apiError = fromSqlState(e.code, e.message, e.hint, e.detail);
        if (apiError) throw apiError;
        if (isUnavailable(e.code ?? "")) throw serviceUnavailable();
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.end({ timeout: 5 }),
  };
}
