// `deno task test`: runs the whole suite against a real, freshly migrated PostgreSQL.
// With DATABASE_URL, a throwaway database is created on that server and dropped after;
// without it, a throwaway embedded PostgreSQL 17 cluster is started and removed.
// Extra arguments are passed to `deno test` (e.g. a file or --filter). Test files run one
// after another: the webhook sweeper tests claim due deliveries of the whole database, which
// must not race other files' assertions on the outbox.
import postgres from "postgres";
import { join } from "node:path";
import { startCluster } from "./cluster.ts";
import { migrate } from "./migrate.ts";

async function throwawayDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const given = Deno.env.get("DATABASE_URL");
  if (given) {
    const name = `openapi_operations_test_${crypto.randomUUID().replaceAll("-", "")}`;
    const admin = postgres(given, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(given);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      drop: async () => {
        await admin.unsafe(`drop database ${name} with (force)`);
        await admin.end();
      },
    };
  }
  // World-traversable, so the postgres user can reach it when we run as root.
  const dir = await Deno.makeTempDir({ prefix: "openapi-operations-test-" });
  await Deno.chmod(dir, 0o755);
  const cluster = await startCluster(join(dir, "data"), { fast: true });
  return {
    url: cluster.url,
    drop: async () => {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const database = await throwawayDatabase();
let code = 1;
try {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  await migrate(sql);
  await sql.end();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...(Deno.args.length ? Deno.args : ["tests/"])],
    env: { DATABASE_URL: database.url },
    stdin: "null",
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  code = (await child.status).code;
} finally {
  await database.drop();
}
Deno.exit(code);
