import { parseExact } from "./exact_json.ts";

/** Arguments of a Postgres function, by parameter name. */
export type RpcArgs = Record<string, string | number | Record<string, unknown> | null>;

/**
 * The database as the API sees it: one call of one SQL function per request.
 * Adapters throw ApiError for `PTxxx` errors and for an unreachable database; anything else
 * propagates and becomes a 500.
 */
export interface Db {
  /**
   * Calls `public.<fn>` with named arguments and returns its JSON result as text, exactly as
   * Postgres wrote it, so money keeps its stored digits and nothing is parsed that is only
   * passed on.
   */
  rpc(fn: string, args: RpcArgs): Promise<string>;
  /** Closes connections, where the adapter holds any. */
  close(): Promise<void>;
}

/** Calls a SQL function and parses its JSON result, every number's digits kept (see exact_json.ts). */
export async function rpcValue<T>(db: Db, fn: string, args: RpcArgs): Promise<T> {
  return parseExact(await db.rpc(fn, args)) as T;
}
