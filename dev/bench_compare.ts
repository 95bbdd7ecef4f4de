// `deno task bench --action compare` and `--action scale`: create_purchase measured four ways
// in one run on one server, alternating, and reported as ratios (these machines are shared
// and noisy: absolute numbers are not comparable between runs):
// - reference: the deliberately plain create_purchase of dev/bench_reference (REFERENCE_DIR),
//   loaded into a database of its own on the same server, called by pgbench (prepared);
// - sql: the project's public.create_purchase, called by pgbench (prepared) with the same
//   shape of request (a channel with a fixed 100 and a 10 % trigger, a product, a lead);
// - http: the same request through the function served by `deno task start` (dev/serve.ts),
//   driven by wrk (apt `wrk`), with the server's CPU time per request and its RSS;
// - floor: the same request through bench_floor_server.ts, the same HTTP server and database
//   adapter with no handler between them: the most a handler on this runtime and driver can
//   reach (floor_* fields);
// and, after the rounds, the driver's share of that CPU: postgres.js alone, same statement.
// `--action scale` grows the project's tables to 1M purchases (+1M events, +2M reward events,
// 1M leads) and compares create_purchase latency at 1 concurrent with its latency at 10k,
// and times the first and a deep page of get_purchases, get_reward_events and get_leads.
import postgres from "postgres";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ops from "./admin_ops.ts";
import { startServer, withDatabase } from "./cluster.ts";
import type { Database } from "./database.ts";
import { hashApiKey } from "../supabase/functions/_shared/api_key.ts";
import { rpcStatement } from "../supabase/functions/_shared/db_postgres.ts";

/** What the comparison needs to know. */
export interface CompareOptions {
  seconds: number;
  rounds: number;
  concurrency: number;
  referenceDir: string;
  poolSize: number;
}

export interface Fixture {
  key: string;
  keyHash: string;
  channelId: string;
  leadId: string;
  productId: string;
}

export const REFERENCE_DB = "openapi_operations_bench_reference";
/** The reference's schema and call (README.md there), the default of `--reference`. */
export const REFERENCE_DIR = fileURLToPath(new URL("./bench_reference", import.meta.url));

/** Runs a command (in cwd, default this process's) to its end; its stdout and stderr, or an error with them. */
export async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

export async function has(cmd: string): Promise<boolean> {
  return (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).output()).success;
}

/** Drops the database `name` on url's server if it exists (`create`: and creates it empty); answers its URL. */
export async function resetDatabase(url: string, name: string, create: boolean): Promise<string> {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    if (create) await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return withDatabase(url, name);
}

// The reference schema and call (REFERENCE_DIR, or another folder with the same two files), in a database of their own.
export async function loadReference(url: string, dir: string): Promise<{ url: string; script: string }> {
  const refUrl = await resetDatabase(url, REFERENCE_DB, true);
  const ref = postgres(refUrl, { max: 1, onnotice: () => {} });
  await ref.unsafe(await Deno.readTextFile(join(dir, "reference_schema.sql")));
  await ref.end();
  return { url: refUrl, script: join(dir, "reference_call.sql") };
}

// The project's side of the same shape: a channel with a fixed 100 and a 10 % purchase
// trigger, a product of the receiving company, a lead and a key of the receiving company.
export async function projectFixture(sql: postgres.Sql): Promise<Fixture> {
  const referrer = await ops.createCompany(sql, { name: "Bench referrer" });
  const receiver = await ops.createCompany(sql, { name: "Bench receiver" });
  const channel = await ops.createChannel(sql, {
    title: "Bench",
    creator: receiver.id as string,
    referring: referrer.id as string,
    receiving: receiver.id as string,
  });
  const channelId = channel.id as string;
  await ops.createStatus(sql, { channel: channelId, name: "New" });
  await ops.createTrigger(sql, { channel: channelId, on: "purchase", reward: "fixed", amount: "100" });
  await ops.createTrigger(sql, { channel: channelId, on: "purchase", reward: "percentage", amount: "10" });
  const lead = await ops.createLead(sql, { channel: channelId });
  const product = await ops.createProduct(sql, { company: receiver.id as string, name: "Annual subscription" });
  const key = await ops.createKey(sql, { company: receiver.id as string });
  return {
    key: key.api_key as string,
    keyHash: hashApiKey(key.api_key as string),
    channelId,
    leadId: lead.id as string,
    productId: product.id as string,
  };
}

/** The create_purchase request of the comparison: the seed's example. */
export function purchaseRequest(f: Fixture) {
  return {
    lead_id: f.leadId,
    product_id: f.productId,
    purchase_amount: 12500,
    date: "2025-04-01T00:00:00.000Z",
    description: "Annual subscription",
  };
}

/** A call of one SQL function with literal arguments, as pgbench and callgrind run it. */
export function sqlCall(fn: string, keyHash: string, args: unknown): string {
  return `select public.${fn}('${keyHash}', '${JSON.stringify(args)}'::jsonb)`;
}

/** A pgbench script file of `text`; the caller removes it. */
export async function tempScript(text: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(file, text);
  return file;
}

// A pgbench script of that call.
export function sqlScript(fn: string, keyHash: string, args: unknown): Promise<string> {
  return tempScript(`${sqlCall(fn, keyHash, args)};\n`);
}

export interface PgbenchResult {
  tps: number;
  latency_ms: number;
  /** Transactions that completed. */
  transactions: number;
}

/** Runs pgbench with a script file (one transaction each) against url. */
export async function pgbench(url: string, script: string, clients: number, seconds: number): Promise<PgbenchResult> {
  const u = new URL(url);
  const out = await run("pgbench", [
    "-n",
    "-M",
    "prepared",
    "-c",
    String(clients),
    "-j",
    String(Math.min(clients, 2)),
    "-T",
    String(seconds),
    "-f",
    script,
    "-h",
    u.hostname,
    "-p",
    u.port || "5432",
    "-U",
    decodeURIComponent(u.username),
    u.pathname.slice(1),
  ], { PGPASSWORD: decodeURIComponent(u.password) });
  const tps = /tps = ([\d.]+)/.exec(out);
  const latency = /latency average = ([\d.]+) ms/.exec(out);
  const transactions = /number of transactions actually processed: (\d+)/.exec(out);
  if (!tps || !latency || !transactions || /failed: [1-9]/.test(out)) {
    throw new Error(`pgbench output not understood:\n${out}`);
  }
  return { tps: Number(tps[1]), latency_ms: Number(latency[1]), transactions: Number(transactions[1]) };
}

export interface WrkResult {
  /** wrk's own output (a script's prints included). */
  output: string;
  requests: number;
  rps: number;
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit];
}

/** Runs wrk with a Lua script (which sets the method, headers and body, or a request() function) against url. */
export async function wrkScript(url: string, script: string, clients: number, seconds: number): Promise<WrkResult> {
  const lua = await Deno.makeTempFile({ suffix: ".lua" });
  await Deno.writeTextFile(lua, script);
  const out = await run("wrk", [
    "-t",
    String(Math.min(clients, 2)),
    "-c",
    String(clients),
    "-d",
    `${seconds}s`,
    "--latency",
    "-s",
    lua,
    url,
  ]);
  await Deno.remove(lua);
  const requests = /(\d+) requests in/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const mean = /Latency\s+([\d.]+)(us|ms|s)/.exec(out);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (!requests || !rps || !mean || !p50 || !p99) throw new Error(`wrk output not understood:\n${out}`);
  return {
    output: out,
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    mean_ms: toMs(mean[1], mean[2]),
    p50_ms: toMs(p50[1], p50[2]),
    p99_ms: toMs(p99[1], p99[2]),
    errors: non2xx ? Number(non2xx[1]) : 0,
  };
}

/** wrk POSTing body with key as X-Api-Key. */
export function wrk(url: string, body: string, key: string, clients: number, seconds: number): Promise<WrkResult> {
  return wrkScript(
    url,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n` +
      `wrk.headers["X-Api-Key"] = "${key}"\n`,
    clients,
    seconds,
  );
}

// CPU seconds (user + system) and resident memory of a process, from /proc.
export async function processUsage(pid: number): Promise<{ cpu_s: number; rss_mb: number }> {
  const stat = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { cpu_s: ticks / 100, rss_mb: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024 };
}

export const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

// What the driver alone costs per call: postgres.js (the server's driver, same pool size and
// concurrency) in this process, sending the server's own statement (db_postgres.ts), prepared,
// for the same request. The server's CPU per request is this plus HTTP and the handler.
async function driverFloor(url: string, o: CompareOptions, keyHash: string, request: Record<string, unknown>) {
  const sql = postgres(url, { max: o.poolSize, idle_timeout: 0, onnotice: () => {} });
  const statement = rpcStatement("create_purchase", { key_hash: keyHash, args: request });
  let calls = 0;
  const loop = async (until: number) => {
    while (performance.now() < until) {
      await sql.unsafe(statement, [keyHash, request as postgres.JSONValue], { prepare: true });
      calls++;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, () => loop(performance.now() + 2000)));
  calls = 0;
  const before = await processUsage(Deno.pid);
  await Promise.all(Array.from({ length: o.concurrency }, () => loop(performance.now() + o.seconds * 1000)));
  const after = await processUsage(Deno.pid);
  await sql.end();
  return {
    measure: "postgres.js alone, the same create_purchase statement",
    concurrency: o.concurrency,
    calls_per_s: Math.round(calls / o.seconds),
    cpu_ms_per_call: Math.round(((after.cpu_s - before.cpu_s) * 1000 / calls) * 1000) / 1000,
  };
}

/** The three-way comparison; prints one JSON line per round and measure. */
export async function benchCompare(database: Database, o: CompareOptions): Promise<void> {
  for (const tool of ["pgbench", "wrk"]) {
    if (!(await has(tool))) throw new Error(`${tool} is not installed (apt-get install -y postgresql-client wrk)`);
  }
  const reference = await loadReference(database.url, o.referenceDir);
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const fixture = await projectFixture(sql);
  await sql.end();
  const request = purchaseRequest(fixture);
  const script = await sqlScript("create_purchase", fixture.keyHash, request);
  const body = JSON.stringify({ action: "create_purchase", ...request });
  const env = { DATABASE_URL: database.url, DATABASE_POOL_SIZE: String(o.poolSize) };
  const server = await startServer("./serve.ts", env);
  const floor = await startServer("./bench_floor_server.ts", {
    ...env,
    KEY_HASH: fixture.keyHash,
    REQUEST: JSON.stringify(request),
  });
  try {
    // Warm-up: plans, caches, connections.
    await pgbench(reference.url, reference.script, o.concurrency, 2);
    await pgbench(database.url, script, o.concurrency, 2);
    await wrk(server.url, body, fixture.key, o.concurrency, 2);
    await wrk(floor.url, body, fixture.key, o.concurrency, 2);
    for (let round = 1; round <= o.rounds; round++) {
      for (const clients of [o.concurrency, 1]) {
        const ref = await pgbench(reference.url, reference.script, clients, o.seconds);
        const fn = await pgbench(database.url, script, clients, o.seconds);
        const before = await processUsage(server.pid);
        const http = await wrk(server.url, body, fixture.key, clients, o.seconds);
        const after = await processUsage(server.pid);
        const floorBefore = await processUsage(floor.pid);
        const bare = await wrk(floor.url, body, fixture.key, clients, o.seconds);
        const floorAfter = await processUsage(floor.pid);
        const requests = http.rps * o.seconds;
        console.log(JSON.stringify({
          round,
          concurrency: clients,
          reference_tps: Math.round(ref.tps),
          sql_tps: Math.round(fn.tps),
          http_rps: Math.round(http.rps),
          sql_vs_reference: ratio(fn.tps, ref.tps),
          http_vs_sql: ratio(http.rps, fn.tps),
          reference_latency_ms: ref.latency_ms,
          sql_latency_ms: fn.latency_ms,
          http_p50_ms: http.p50_ms,
          http_p99_ms: http.p99_ms,
          http_p50_minus_sql_ms: Math.round((http.p50_ms - fn.latency_ms) * 1000) / 1000,
          http_p99_over_p50: ratio(http.p99_ms, http.p50_ms),
          http_errors: http.errors,
          server_cpu_ms_per_request: Math.round(((after.cpu_s - before.cpu_s) * 1000 / requests) * 1000) / 1000,
          server_rss_mb: Math.round(after.rss_mb),
          floor_rps: Math.round(bare.rps),
          floor_vs_sql: ratio(bare.rps, fn.tps),
          floor_p50_minus_sql_ms: Math.round((bare.p50_ms - fn.latency_ms) * 1000) / 1000,
          floor_p99_over_p50: ratio(bare.p99_ms, bare.p50_ms),
          floor_cpu_ms_per_request:
            Math.round(((floorAfter.cpu_s - floorBefore.cpu_s) * 1000 / (bare.rps * o.seconds)) * 1000) / 1000,
          floor_rss_mb: Math.round(floorAfter.rss_mb),
          floor_errors: bare.errors,
        }));
      }
    }
    console.log(JSON.stringify(await driverFloor(database.url, o, fixture.keyHash, request)));
  } finally {
    await server.stop();
    await floor.stop();
    await Deno.remove(script);
    await resetDatabase(database.url, REFERENCE_DB, false);
  }
}

// Grows the fixture's channel to `purchases` purchases, each on a lead of its own, with one
// purchase event and two reward events each, as create_purchase would write them.
export async function grow(sql: postgres.Sql, f: Fixture, purchases: number): Promise<void> {
  const [{ n }] = await sql`select count(*)::int as n from public.purchases where channels_id = ${f.channelId}`;
  const missing = purchases - n;
  for (let done = 0; done < missing; done += 100_000) {
    const batch = Math.min(100_000, missing - done);
    await sql`
      with lead as (
        insert into public.leads (channels_id, created_at, email)
        select ${f.channelId}, now() - make_interval(secs => g), 'bench' || g || '@example.com'
        from generate_series(1, ${batch}) g
        returning id, created_at
      ), purchase as (
        insert into public.purchases (leads_id, channels_id, products_id, purchase_amount, date, description,
          companies_id, created_at)
        select l.id, ${f.channelId}, ${f.productId}, 12500, l.created_at, 'Annual subscription',
          (select receiving_id from public.channels where id = ${f.channelId}), l.created_at
        from lead l
        returning *
      ), event as (
        insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data, created_at)
        select 'purchase', p.channels_id, p.leads_id, p.id, p.companies_id, '{}', p.created_at from purchase p
        returning id, purchases_id
      )
      insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount,
        currency, reward_type, rate, base_amount, beneficiary_companies_id, created_at)
      select t.id, p.channels_id, p.leads_id, p.id, e.id, case t.reward_type when 'fixed' then 100 else 1250 end,
        'USD', t.reward_type, case when t.reward_type = 'percentage' then 10 end, 12500,
        (select referring_id from public.channels where id = ${f.channelId}), p.created_at
      from purchase p join event e on e.purchases_id = p.id
      cross join public.reward_triggers t where t.channels_id = ${f.channelId}`;
  }
  await sql`vacuum analyze public.leads, public.purchases, public.events, public.reward_events`;
}

/** The scale run: create_purchase at 10k and at 1M purchases, and listings at 1M. */
export async function benchScale(database: Database, o: CompareOptions & { size: number }): Promise<void> {
  if (!(await has("pgbench"))) throw new Error("pgbench is not installed (apt-get install -y postgresql-client)");
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const fixture = await projectFixture(sql);
  const purchase = await sqlScript("create_purchase", fixture.keyHash, purchaseRequest(fixture));
  const latency = async (script: string) => (await pgbench(database.url, script, 1, o.seconds)).latency_ms;
  try {
    await grow(sql, fixture, 10_000);
    await latency(purchase);
    const small = await latency(purchase);
    await grow(sql, fixture, o.size);
    await latency(purchase);
    const large = await latency(purchase);
    console.log(JSON.stringify({
      measure: "create_purchase latency at 1 concurrent",
      at_10k_ms: small,
      [`at_${o.size}_ms`]: large,
      ratio: ratio(large, small),
    }));
    const deep = async (table: string) => {
      const [row] = await sql.unsafe(
        `select internal.encode_cursor(created_at, id) as cursor from public.${table} where channels_id = $1
         order by created_at desc, id desc offset $2 limit 1`,
        [fixture.channelId, Math.floor(o.size * 0.9)],
      );
      return row.cursor as string;
    };
    for (
      const [fn, table, extra] of [
        ["get_purchases", "purchases", {}],
        ["get_reward_events", "reward_events", {}],
        ["get_leads", "leads", {}],
      ] as const
    ) {
      const first = await sqlScript(fn, fixture.keyHash, { channel_id: fixture.channelId, ...extra });
      const later = await sqlScript(fn, fixture.keyHash, {
        channel_id: fixture.channelId,
        cursor: await deep(table),
        ...extra,
      });
      await latency(first);
      console.log(JSON.stringify({
        measure: `${fn} page of 100 at 1 concurrent, ${o.size} rows`,
        first_page_ms: await latency(first),
        deep_page_ms: await latency(later),
      }));
    }
  } finally {
    await sql.end();
  }
}
