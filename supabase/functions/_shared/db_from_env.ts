import type { Db } from "./db.ts";
import { isEdgeRuntime, poolDefaults } from "./db_options.ts";
import type { PostgresDbOptions } from "./db_postgres.ts";
import { createSupabaseDb } from "./db_supabase.ts";

/** Reads one environment variable. */
export type EnvReader = (name: string) => string | undefined;

/**
 * The service key of a hosted project: the `default` entry of SUPABASE_SECRET_KEYS (JSON,
 * the new secret keys), else the legacy SUPABASE_SERVICE_ROLE_KEY. The new key comes first:
 * a project that disabled its legacy keys still injects the old JWT, which PostgREST refuses.
 * A SUPABASE_SECRET_KEYS that is not a JSON object of strings fails with a message saying so.
 */
export function serviceKey(env: EnvReader): string | undefined {
  const keys = env("SUPABASE_SECRET_KEYS");
  if (keys) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(keys);
    } catch {
      parsed = null;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error('SUPABASE_SECRET_KEYS is not a JSON object of keys (expected {"default": "sb_secret_…"})');
    }
    const key = (parsed as Record<string, unknown>).default;
    if (typeof key === "string" && key) return key;
  }
  return env("SUPABASE_SERVICE_ROLE_KEY") || undefined;
}

/**
 * The direct adapter, loaded on its first call: postgres.js is evaluated only where DATABASE_URL
 * is set, not on every boot of a hosted worker that talks to PostgREST.
 */
function lazyPostgresDb(url: string, options: PostgresDbOptions): Db {
  let db: Promise<Db> | undefined;
  const load = () => db ??= import("./db_postgres.ts").then((module) => module.createPostgresDb(url, options));
  return {
    rpc: async (fn, args) => (await load()).rpc(fn, args),
    close: async () => {
      if (db) await (await db).close();
    },
  };
}

/** What dbFromEnv needs besides the environment. */
export interface DbFromEnvOptions {
  /** Replaces the global fetch of the hosted adapter (tests). */
  fetch?: typeof fetch;
  /** Whether to size the direct pool for the Edge Runtime (db_options.ts poolDefaults); default: detected. */
  edgeRuntime?: boolean;
}

/**
 * Chooses the database adapter: DATABASE_URL → postgres.js (pool size DATABASE_POOL_SIZE, else
 * poolDefaults: 2 connections closed after 10 s idle under the Edge Runtime, 5 elsewhere); else
 * SUPABASE_URL plus a service key → supabase-js. Neither → throws naming both options.
 */
export function dbFromEnv(env: EnvReader, options: DbFromEnvOptions = {}): Db {
  const databaseUrl = env("DATABASE_URL");
  if (databaseUrl) {
    const poolSize = env("DATABASE_POOL_SIZE");
    if (poolSize !== undefined && !/^[1-9]\d{0,2}$/.test(poolSize)) {
      throw new Error(`DATABASE_POOL_SIZE must be an integer from 1 to 999, got ${JSON.stringify(poolSize)}`);
    }
    new URL(databaseUrl); // a malformed DATABASE_URL fails the start, not the first call
    const defaults = poolDefaults(options.edgeRuntime ?? isEdgeRuntime());
    return lazyPostgresDb(databaseUrl, {
      max: poolSize ? Number(poolSize) : defaults.max,
      idleTimeoutSeconds: defaults.idleTimeoutSeconds,
    });
  }
  const supabaseUrl = env("SUPABASE_URL");
  const key = serviceKey(env);
  if (supabaseUrl && key) return createSupabaseDb(supabaseUrl, key, { fetch: options.fetch });
  throw new Error(
    "No database configured: set DATABASE_URL (direct Postgres connection) or SUPABASE_URL " +
      "with SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY (hosted Supabase)",
  );
}
