// `deno task bench --action compare --before REV`: whether a single create_purchase got slower
// since the git revision REV, both versions measured in one run on one PostgreSQL server, in turn
// (which goes first alternates by round, so drift and noise of these shared machines hit both):
// - REV's tree is written to a temporary directory (`git archive`, no worktree) and its
//   dependencies installed there from its own deno.lock (`deno install --frozen`);
// - two fresh databases on the configured server: REV's own code migrates BEFORE_DB (REV's
//   dev/database.ts, REV's migrations) and builds the compare bench's fixture in it (REV's
//   projectFixture: today's admin_ops writes columns an older schema lacks); today's code migrates
//   AFTER_DB and builds the same fixture there; the two are checked to have the same shape;
// - sql: public.create_purchase with the same request (purchaseRequest), called by pgbench
//   (prepared) in each database;
// - http: the same request driven by wrk through REV's dev/serve.ts (run from the directory, on
//   BEFORE_DB) and through today's (on AFTER_DB), both with DATABASE_POOL_SIZE=--pool.
// One JSON line per round and concurrency (--concurrency, then 1): each side's tps and requests/s,
// the after / before ratios, pgbench's average latency, wrk's p50 and p99, and each server's CPU
// time per request (less sensitive than throughput to what else the shared cores run). Both
// servers, both databases and the directory are removed at the end, also after an error.
import postgres from "postgres";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CompareOptions,
  type Fixture,
  has,
  pgbench,
  type PgbenchResult,
  processUsage,
  projectFixture,
  purchaseRequest,
  ratio,
  resetDatabase,
  run,
  sqlScript,
  wrk,
  type WrkResult,
} from "./bench_compare.ts";
import { startServer } from "./cluster.ts";
import type { Database } from "./database.ts";
import { migrate } from "./migrate.ts";

export const BEFORE_DB = "openapi_operations_bench_before";
const AFTER_DB = "openapi_operations_bench_after";
const ROOT = fileURLToPath(new URL("..", import.meta.url));

// Run by `deno eval` in REV's directory, on DATABASE_URL: REV's migrations, then REV's fixture as a JSON line.
const BEFORE_FIXTURE = `
import postgres from "postgres";
import { openDatabase } from "./dev/database.ts";
import { projectFixture } from "./dev/bench_compare.ts";
const database = await openDatabase();
const sql = postgres(database.url, { max: 1, onnotice: () => {} });
console.log(JSON.stringify(await projectFixture(sql)));
await sql.end();`;

// Writes rev's tree into dir and installs its dependencies; returns its commit.
async function checkout(rev: string, dir: string): Promise<string> {
  const commit = (await run("git", ["-C", ROOT, "rev-parse", "--verify", `${rev}^{commit}`])).split("\n")[0];
  const git = new Deno.Command("git", { args: ["-C", ROOT, "archive", commit], stdout: "piped" }).spawn();
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  await git.stdout.pipeTo(tar.stdin);
  if (!(await git.status).success || !(await tar.status).success) {
    throw new Error(`git archive ${commit} | tar -x -C ${dir} failed`);
  }
  await run(Deno.execPath(), ["install", "--frozen", "--quiet"], {}, dir);
  return commit;
}

// What the comparison relies on: the channel's purchase triggers, and a lead of the channel, a
// product and a live key of its receiving company.
async function fixtureShape(url: string, f: Fixture): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [shape] = await sql`
      select c.currency,
        (select json_agg(json_build_array(t.trigger, t.reward_type, t.amount::text, t.status) order by t.reward_type)
          from public.reward_triggers t where t.channels_id = c.id) as triggers,
        exists (select from public.leads l where l.id = ${f.leadId} and l.channels_id = c.id) as lead,
        exists (select from public.products p where p.id = ${f.productId} and p.companies_id = c.receiving_id)
          as product,
        exists (select from public.api_keys k
          where k.key_hash = ${f.keyHash} and k.companies_id = c.receiving_id and k.revoked_at is null) as key
      from public.channels c where c.id = ${f.channelId}`;
    return JSON.stringify(shape);
  } finally {
    await sql.end();
  }
}

/** create_purchase of REV against today's; prints one JSON line per round and concurrency. */
export async function benchBefore(database: Database, o: CompareOptions & { before: string }): Promise<void> {
  for (const tool of ["pgbench", "wrk"]) {
    if (!(await has(tool))) throw new Error(`${tool} is not installed (apt-get install -y postgresql-client wrk)`);
  }
  const dir = await Deno.makeTempDir({ prefix: "openapi-operations-before-" });
  const env = { DATABASE_POOL_SIZE: String(o.poolSize) };
  const servers: { stop(): Promise<void> }[] = [];
  const scripts: string[] = [];
  try {
    const commit = await checkout(o.before, dir);
    const beforeUrl = await resetDatabase(database.url, BEFORE_DB, true);
    const out = await run(Deno.execPath(), ["eval", BEFORE_FIXTURE], { DATABASE_URL: beforeUrl }, dir);
    const line = out.split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(`${o.before}'s fixture printed no JSON line:\n${out}`);
    const beforeFixture: Fixture = JSON.parse(line);
    const afterUrl = await resetDatabase(database.url, AFTER_DB, true);
    const sql = postgres(afterUrl, { max: 1, onnotice: () => {} });
    let afterFixture: Fixture;
    try {
      await migrate(sql);
      afterFixture = await projectFixture(sql);
    } finally {
      await sql.end();
    }
    const [beforeShape, afterShape] = [
      await fixtureShape(beforeUrl, beforeFixture),
      await fixtureShape(afterUrl, afterFixture),
    ];
    if (beforeShape !== afterShape) throw new Error(`The fixtures differ: ${beforeShape} before, ${afterShape} after`);

    const side = async (url: string, fixture: Fixture, serve: string, cwd?: string) => {
      const request = purchaseRequest(fixture);
      const script = await sqlScript("create_purchase", fixture.keyHash, request);
      scripts.push(script);
      const server = await startServer(serve, { ...env, DATABASE_URL: url }, cwd);
      servers.push(server);
      const body = JSON.stringify({ action: "create_purchase", ...request });
      const res = await fetch(server.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Api-Key": fixture.key },
        body,
      });
      if (res.status !== 200) throw new Error(`${serve} answered ${res.status}: ${await res.text()}`);
      return { url, script, server: server.url, pid: server.pid, key: fixture.key, body };
    };
    const sides = {
      before: await side(beforeUrl, beforeFixture, join(dir, "dev", "serve.ts"), dir),
      after: await side(afterUrl, afterFixture, "./serve.ts"),
    };
    type Name = keyof typeof sides;
    // Warm-up: plans, caches, connections.
    for (const s of Object.values(sides)) {
      await pgbench(s.url, s.script, o.concurrency, 2);
      await wrk(s.server, s.body, s.key, o.concurrency, 2);
    }
    for (let round = 1; round <= o.rounds; round++) {
      const order: Name[] = round % 2 ? ["before", "after"] : ["after", "before"];
      for (const clients of [o.concurrency, 1]) {
        const sqlOf = {} as Record<Name, PgbenchResult>;
        for (const name of order) sqlOf[name] = await pgbench(sides[name].url, sides[name].script, clients, o.seconds);
        const httpOf = {} as Record<Name, WrkResult>;
        const cpuOf = {} as Record<Name, number>;
        for (const name of order) {
          const s = sides[name];
          const start = await processUsage(s.pid);
          httpOf[name] = await wrk(s.server, s.body, s.key, clients, o.seconds);
          const end = await processUsage(s.pid);
          cpuOf[name] = Math.round(((end.cpu_s - start.cpu_s) * 1000 / (httpOf[name].rps * o.seconds)) * 1000) / 1000;
        }
        console.log(JSON.stringify({
          round,
          concurrency: clients,
          before: commit.slice(0, 7),
          measured_first: order[0],
          before_sql_tps: Math.round(sqlOf.before.tps),
          after_sql_tps: Math.round(sqlOf.after.tps),
          sql_after_vs_before: ratio(sqlOf.after.tps, sqlOf.before.tps),
          before_http_rps: Math.round(httpOf.before.rps),
          after_http_rps: Math.round(httpOf.after.rps),
          http_after_vs_before: ratio(httpOf.after.rps, httpOf.before.rps),
          before_sql_latency_ms: sqlOf.before.latency_ms,
          after_sql_latency_ms: sqlOf.after.latency_ms,
          before_http_p50_ms: httpOf.before.p50_ms,
          after_http_p50_ms: httpOf.after.p50_ms,
          before_http_p99_ms: httpOf.before.p99_ms,
          after_http_p99_ms: httpOf.after.p99_ms,
          before_server_cpu_ms_per_request: cpuOf.before,
          after_server_cpu_ms_per_request: cpuOf.after,
          before_http_errors: httpOf.before.errors,
          after_http_errors: httpOf.after.errors,
        }));
      }
    }
  } finally {
    await Promise.allSettled([...servers.map((server) => server.stop()), ...scripts.map((f) => Deno.remove(f))]);
    await Promise.allSettled([
      resetDatabase(database.url, BEFORE_DB, false),
      resetDatabase(database.url, AFTER_DB, false),
      Deno.remove(dir, { recursive: true }),
    ]);
  }
}
