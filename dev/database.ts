// The database choice of `deno task start`, `admin` and `bench`: DATABASE_URL when set,
// else the embedded PostgreSQL 17 under DATA_DIR (default .data/). Pending migrations are
// applied either way.
import postgres from "postgres";
import { startCluster } from "./cluster.ts";
import { migrate } from "./migrate.ts";

/** An open, migrated database. */
export interface Database {
  url: string;
  embedded: boolean;
  /** Versions applied by this open. */
  applied: string[];
  /** Stops the embedded cluster (no-op for DATABASE_URL). */
  stop(): Promise<void>;
}

/** Opens the configured database and applies pending migrations. */
export async function openDatabase(): Promise<Database> {
  const given = Deno.env.get("DATABASE_URL");
  const cluster = given ? null : await startCluster(`${Deno.env.get("DATA_DIR") ?? ".data"}/postgres`);
  const url = given ?? cluster!.url;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const applied = await migrate(sql);
    return { url, embedded: !given, applied, stop: async () => await cluster?.stop() };
  } catch (error) {
    await cluster?.stop();
    throw error;
  } finally {
    await sql.end();
  }
}
