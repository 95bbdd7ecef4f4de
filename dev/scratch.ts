// Throwaway PostgreSQL for the test harness and the schema tools: with DATABASE_URL, databases
// are created on that server and dropped after; without it, a throwaway embedded PostgreSQL 17
// cluster is started and removed.
import postgres from "postgres";
import { join } from "node:path";
import { startCluster, withDatabase } from "./cluster.ts";

/** A server to create throwaway databases on. */
export interface ScratchServer {
  /** A new empty database on the server (on the embedded cluster, the first call gets `postgres`). */
  database(): Promise<{ url: string; drop(): Promise<void> }>;
  stop(): Promise<void>;
}

/** Creates a database on the server at `serverUrl` and returns its URL and how to drop it. */
async function createDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `openapi_operations_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  return {
    url: withDatabase(serverUrl, name),
    drop: async () => {
      await admin.unsafe(`drop database ${name} with (force)`);
      await admin.end();
    },
  };
}

/** DATABASE_URL's server, else a new embedded cluster. */
export async function scratchServer(): Promise<ScratchServer> {
  const given = Deno.env.get("DATABASE_URL");
  if (given) return { database: () => createDatabase(given), stop: () => Promise.resolve() };
  // World-traversable, so the postgres user can reach it when we run as root.
  const dir = await Deno.makeTempDir({ prefix: "openapi-operations-test-" });
  await Deno.chmod(dir, 0o755);
  const cluster = await startCluster(join(dir, "data"), { fast: true });
  let first = true;
  return {
    database: () => {
      if (!first) return createDatabase(cluster.url);
      first = false;
      return Promise.resolve({ url: cluster.url, drop: () => Promise.resolve() });
    },
    stop: async () => {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
