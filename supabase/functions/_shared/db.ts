/** Arguments of a Postgres function, by parameter name. */
export type RpcArgs = Record<string, string | number | Record<string, unknown> | null>;

/**
 * The database as the API sees it: one call of one SQL function per request.
 * Adapters throw ApiError for `PTxxx` errors and for an unreachable database; anything else
 * propagates and becomes a 500.
 */
export interface Db {
  /** Calls `public.<fn>` with named arguments and returns its JSON result. */
  rpc(fn: string, args: RpcArgs): Promise<unknown>;
  /** Closes connections, where the adapter holds any. */
  close(): Promise<void>;
}
