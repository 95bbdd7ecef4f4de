// `deno task test`: runs the whole suite against a real, freshly migrated PostgreSQL.
// With DATABASE_URL, a throwaway database is created on that server and dropped after;
// without it, a throwaway embedded PostgreSQL 17 cluster is started and removed.
// Test files run one after another: the webhook sweeper tests claim due deliveries of the
// whole database, which must not race other files' assertions on the outbox.
//
// The suite has two tiers. The tooling tier is the files listed in TOOLING below: they start
// processes (the admin CLI, `deno task start`, Chromium, the Python and Node clients, the
// documents' examples, `deno check` and `deno info`, a PostgreSQL cluster of their own). The
// fast tier is every other file: behaviour through the real handler on the real database.
//   deno task test                      both tiers
//   deno task test --fast               the fast tier
//   deno task test --tooling            the tooling tier
//   deno task test --database           the files that use the database (CI runs these on PostgreSQL 15 too)
//   deno task test tests/x_test.ts ...  those files; other arguments (e.g. --filter) go to `deno test`
import postgres from "postgres";
import { migrate } from "./migrate.ts";
import { scratchServer } from "./scratch.ts";

/** The tooling tier: test files that start processes. */
export const TOOLING = [
  "tests/availability_test.ts",
  "tests/cli_test.ts",
  "tests/clients_test.ts",
  "tests/cold_start_test.ts",
  "tests/docs_page_test.ts",
  "tests/docs_test.ts",
  "tests/import_command_test.ts",
  "tests/openapi_test.ts",
  "tests/sdk_test.ts",
  "tests/smoke_test.ts",
];

// What starts a process in a test file; a fast-tier file that does this belongs in TOOLING.
const STARTS_PROCESS = /new Deno\.Command\(|startCluster\(/;
// A file uses the database when it takes DATABASE_URL or testEnv (which opens it) from the helpers.
const USES_DATABASE = /import \{[^}]*\b(DATABASE_URL|testEnv)\b[^}]*\} from "\.\/helpers\.ts"/;

/** The test files of the suite, by tier, and whether each uses the database. */
export async function testFiles(): Promise<{ path: string; tooling: boolean; database: boolean }[]> {
  const files: { path: string; tooling: boolean; database: boolean }[] = [];
  for await (const entry of Deno.readDir("tests")) {
    if (!entry.name.endsWith("_test.ts")) continue;
    const path = `tests/${entry.name}`;
    const text = await Deno.readTextFile(path);
    files.push({ path, tooling: TOOLING.includes(path), database: USES_DATABASE.test(text) });
    if (!TOOLING.includes(path) && STARTS_PROCESS.test(text)) {
      throw new Error(`${path} starts a process: list it in TOOLING (dev/test.ts)`);
    }
  }
  const missing = TOOLING.filter((path) => !files.some((f) => f.path === path));
  if (missing.length) throw new Error(`TOOLING lists files that do not exist: ${missing.join(", ")}`);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

// The arguments for `deno test`: the tier flags become the files they select.
async function testArgs(args: string[]): Promise<string[]> {
  const flags = new Set(["--fast", "--tooling", "--database"]);
  const rest = args.filter((arg) => !flags.has(arg));
  const chosen = args.filter((arg) => flags.has(arg));
  if (chosen.includes("--fast") && chosen.includes("--tooling")) {
    throw new Error("--fast and --tooling exclude each other");
  }
  const paths = rest.filter((arg) => !arg.startsWith("-"));
  if (!chosen.length) return paths.length ? rest : [...rest, "tests/"];
  if (paths.length) throw new Error(`${chosen.join(" ")} selects files itself: drop ${paths.join(" ")}`);
  const selected = (await testFiles()).filter((f) =>
    (!chosen.includes("--fast") || !f.tooling) && (!chosen.includes("--tooling") || f.tooling) &&
    (!chosen.includes("--database") || f.database)
  );
  return [...rest, ...selected.map((f) => f.path)];
}

if (import.meta.main) {
  const args = await testArgs(Deno.args);
  const server = await scratchServer();
  const database = await server.database();
  let code = 1;
  try {
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    await migrate(sql);
    await sql.end();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", ...args],
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
}
