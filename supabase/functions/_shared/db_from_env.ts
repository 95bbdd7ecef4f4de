import type { Db } from "./db.ts";
import { createPostgresDb } from "./db_postgres.ts";
import { createSupabaseDb } from "./db_supabase.ts";

/** Reads one environment variable. */
export type EnvReader = (name: string) => string | undefined;

/** The service key of a hosted project: SUPABASE_SERVICE_ROLE_KEY, or the default of SUPABASE_SECRET_KEYS (JSON). */
export function serviceKey(env: EnvReader): string | undefined {
  const legacy = env("SUPABASE_SERVICE_ROLE_KEY");
  if (legacy) return legacy;
  const keys = env("SUPABASE_SECRET_KEYS");
  if (!keys) return undefined;
  const parsed = JSON.parse(keys) as Record<string, string>;
  return parsed.default ?? Object.values(parsed)[0];
}

/**
 * Chooses the database adapter: DATABASE_URL → postgres.js; else SUPABASE_URL plus a
 * service key → supabase-js. Neither → throws naming both options.
 */
export function dbFromEnv(env: EnvReader): Db {
  const databaseUrl = env("DATABASE_URL");
  if (databaseUrl) return createPostgresDb(databaseUrl);
  const supabaseUrl = env("SUPABASE_URL");
  const key = serviceKey(env);
  if (supabaseUrl && key) return createSupabaseDb(supabaseUrl, key);
  throw new Error(
    "No database configured: set DATABASE_URL (direct Postgres connection) or SUPABASE_URL " +
      "with SUPABASE_SERVICE_ROLE_KEY or SUPABASE_SECRET_KEYS (hosted Supabase)",
  );
}
