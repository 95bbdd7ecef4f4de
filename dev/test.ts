// `deno task test`: runs the whole suite against a real, freshly migrated PostgreSQL.
// With DATABASE_URL, a throwaway database is created on that server and dropped after;
// without it, a throwaway embedded PostgreSQL 17 cluster is started and removed.
// Extra arguments are passed to `deno test` (e.g. a file or --filter). Test files run one
// after another: the webhook sweeper tests claim due deliveries of the whole database, which
// must not race other files' assertions on the outbox.
import postgres from "postgres";
import { migrate } from "./migrate.ts";
import { scratchServer } from "./scratch.ts";

const server = await scratchServer();
const database = await server.database();
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
  await server.stop();
}
Deno.exit(code);
