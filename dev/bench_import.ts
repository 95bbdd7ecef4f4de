// `deno task bench --action import [--seconds 10] [--concurrency 16] [--import-concurrency 4] [--rounds 1] [--pool 5]`:
// recording sales in bulk with import_purchases against one create_purchase HTTP call per sale, in one run on one
// database and one server (dev/serve.ts), both driven by wrk (apt `wrk`): single calls at `--concurrency`
// connections, then batches of 10, 100 and 1,000 rows at `--import-concurrency` (a batch keeps a pooled connection
// busy far longer than a single call, and every call must answer within the 1.5 s deadline), alternating per round.
// rows_per_s counts the rows of 200 answers only; a refused answer (wrk prints the first) wrote nothing. Every request carries fresh external_ids (wrk's Lua builds each
// body: a run prefix, the wrk thread and a counter), so every row is recorded, never a duplicate; the rows each
// scenario wrote are counted in the database and must be at least its answered requests × rows per request.
// The fixture is --action compare's channel (a fixed and a percentage purchase trigger, so each sale writes a
// purchase, an event and two reward events), with 100 leads the rows take in turn.
// The SQL share: the database counts the time spent inside public.create_purchase / public.import_purchases
// (track_functions = 'all', pg_stat_user_functions), reset before each scenario and read after it, so
// sql_ms_per_call beside wrk's mean latency says how much of an HTTP request is the SQL function itself.
// Two scenarios without HTTP, by pgbench at `--import-concurrency`, 1,000 sales per transaction: "sql" calls
// public.import_purchases directly (its rows built in SQL, fresh external_ids from the transaction id), and "floor"
// writes the same rows as plain INSERTs (a purchase, its event and one reward event per trigger, with the schema's
// keys and indexes and nothing else: no checks, no answer): the most any batch path that writes these rows can record
// on this server, so batch_1000_vs_floor says what import_purchases adds to its writes and floor_vs_single bounds
// the ratio a batch path can reach against single calls here.
// After the rounds, what the TypeScript side of one 1,000-row request costs in this process (warm, median of 20): the
// body parsed as the handler parses it, the rows validated, and the database's answer compacted.
// Prints one JSON line per round and scenario, then the ratios of rows/s against single calls.
import postgres from "postgres";
import type { Database } from "./database.ts";
import { type CompareOptions, pgbench, projectFixture, ratio, tempScript, wrkScript } from "./bench_compare.ts";
import { startServer } from "./cluster.ts";
import * as ops from "./admin_ops.ts";
import { compactJson, hasDuplicateMember, parseExact } from "../supabase/functions/_shared/exact_json.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";

const BATCHES = [10, 100, 1000];
const RUN = `b${Date.now().toString(36)}r`;

// The Lua script of one scenario: `rows` 0 means single create_purchase calls.
function script(key: string, channelId: string, leads: string[], rows: number, run: string): string {
  return `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local leads = {${leads.map((l) => `"${l}"`).join(",")}}
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "${key}"
local function row(id, n)
  return '"lead_id":"' .. leads[n % #leads + 1] .. '","purchase_amount":"129.99","external_id":"' .. id .. '"'
end
function request()
  counter = counter + 1
  local prefix = "${run}-" .. tid .. "-" .. counter
  local body
  if ${rows} == 0 then
    body = '{"action":"create_purchase",' .. row(prefix, counter) .. '}'
  else
    local parts = {}
    for i = 1, ${rows} do parts[i] = '{' .. row(prefix .. "-" .. i, counter + i) .. '}' end
    body = '{"action":"import_purchases","channel_id":"${channelId}","purchases":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format(nil, nil, nil, body)
end
local reported = false
function response(status, headers, body)
  if status ~= 200 and not reported then
    reported = true
    print("first refused answer: " .. status .. " " .. body)
  end
end
`;
}

// The pgbench scripts of the two scenarios without HTTP: 1,000 sales per transaction on the fixture's channel, its
// leads in turn, external_ids unique to the run and the transaction.
function sqlScripts(keyHash: string, channel: Channel, leads: string[], run: string) {
  const lead = `('{${leads.join(",")}}'::uuid[])[i % ${leads.length} + 1]`;
  const externalId = `'${run}-' || pg_current_xact_id() || '-' || i`;
  const sql = `select public.import_purchases('${keyHash}', jsonb_build_object('channel_id', '${channel.id}',
  'purchases', (select jsonb_agg(jsonb_build_object('lead_id', ${lead}, 'purchase_amount', '129.99',
    'external_id', ${externalId})) from generate_series(1, 1000) i)))::text;\n`;
  const floor = `with p as (
  insert into public.purchases (leads_id, channels_id, purchase_amount, companies_id, external_id)
  select ${lead}, '${channel.id}', 129.99, '${channel.receiving_id}', ${externalId} from generate_series(1, 1000) i
  returning id, leads_id, purchase_amount
), e as (
  insert into public.events (category, channels_id, leads_id, purchases_id, companies_id, data)
  select 'purchase', '${channel.id}', p.leads_id, p.id, '${channel.receiving_id}',
    jsonb_build_object('purchase_amount', p.purchase_amount, 'currency', '${channel.currency}')
  from p
  returning id, leads_id, purchases_id
)
insert into public.reward_events (reward_triggers_id, channels_id, leads_id, purchases_id, events_id, amount, currency,
  reward_type, rate, base_amount, beneficiary_companies_id)
select t.id, '${channel.id}', e.leads_id, e.purchases_id, e.id,
  round(case t.reward_type when 'fixed' then t.amount else 129.99 * t.amount / 100 end, 2), '${channel.currency}',
  t.reward_type, case when t.reward_type = 'percentage' then t.amount end, 129.99, '${channel.referring_id}'
from e cross join public.reward_triggers t
where t.channels_id = '${channel.id}' and t.trigger = 'purchase' and t.status = 'Active';\n`;
  return { sql, floor };
}

// Milliseconds of one call of `f`: the median of 20 after 5 to warm up.
function medianMs(f: () => unknown): number {
  for (let i = 0; i < 5; i++) f();
  const times = Array.from({ length: 20 }, () => {
    const start = performance.now();
    f();
    return performance.now() - start;
  }).sort((a, b) => a - b);
  return Math.round(times[10] * 100) / 100;
}

// The TypeScript side of one 1,000-row request: a body as the bench sends it, and a real answer of the database.
async function typescriptCost(sql: postgres.Sql, keyHash: string, channelId: string, leads: string[], run: string) {
  const rows = 1000;
  const purchases = Array.from({ length: rows }, (_, i) => ({
    lead_id: leads[i % leads.length],
    purchase_amount: "129.99",
    external_id: `${run}-ts-${i}`,
  }));
  const text = JSON.stringify({ action: "import_purchases", channel_id: channelId, purchases });
  const body = parseExact(text) as Record<string, unknown>;
  const [{ answer }] = await sql`
    select public.import_purchases(${keyHash}, ${sql.json({ channel_id: channelId, purchases })})::text as answer`;
  return {
    measure: `TypeScript of one ${rows}-row request in this process (median ms of 20, warm)`,
    parse_ms: medianMs(() => parseExact(text)),
    duplicate_member_check_ms: medianMs(() => hasDuplicateMember(text)),
    validate_ms: medianMs(() => actions.import_purchases.schema.safeParse(body)),
    compact_answer_ms: medianMs(() => compactJson(answer)),
    answer_kb: Math.round(answer.length / 1024),
  };
}

interface Channel {
  id: string;
  receiving_id: string;
  referring_id: string;
  currency: string;
}

/** The import benchmark; prints one JSON line per round and scenario, then the comparison. */
export async function benchImport(
  database: Database,
  o: CompareOptions & { importConcurrency: number },
): Promise<void> {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const [{ db }] = await sql`select current_database() as db`;
  await sql.unsafe(`alter database "${db}" set track_functions = 'all'`);
  const fixture = await projectFixture(sql);
  const leads = [fixture.leadId];
  for (let i = 1; i < 100; i++) leads.push((await ops.createLead(sql, { channel: fixture.channelId })).id as string);
  const server = await startServer("./serve.ts", {
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: String(o.poolSize),
  });
  let runs = 0;
  // One scenario: wrk for `seconds`, the rows it wrote, and the time the database spent in the SQL function.
  const measure = async (rows: number, seconds: number) => {
    const fn = rows === 0 ? "create_purchase" : "import_purchases";
    // Unique across runs too: the embedded database under DATA_DIR outlives a run.
    const run = `${RUN}${++runs}`;
    await sql`select pg_stat_reset()`;
    const clients = rows === 0 ? o.concurrency : o.importConcurrency;
    const http = await wrkScript(
      server.url,
      script(fixture.key, fixture.channelId, leads, rows, run),
      clients,
      seconds,
    );
    // Backends report their function statistics within a second of going idle.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [stats] = await sql`
      select coalesce(sum(calls), 0)::int as calls, coalesce(sum(total_time), 0)::float8 as total_ms
      from pg_stat_user_functions where schemaname = 'public' and funcname = ${fn}`;
    const [{ written }] = await sql`
      select count(*)::int as written from public.purchases where external_id like ${run + "-%"}`;
    const perRequest = Math.max(rows, 1);
    // A refused answer (wrk prints the first) wrote nothing; every 200 wrote all its rows.
    const answered = http.requests - http.errors;
    if (written < answered * perRequest) {
      throw new Error(`${fn}: ${written} rows written for ${answered} answers\n${http.output}`);
    }
    const refused = /first refused answer: (.*)/.exec(http.output);
    return {
      scenario: rows === 0 ? "create_purchase, one sale per request" : `import_purchases, ${rows} rows per request`,
      concurrency: clients,
      rows_per_request: perRequest,
      requests_per_s: Math.round(http.rps),
      rows_per_s: Math.round((answered / seconds) * perRequest),
      errors: http.errors,
      ...(refused ? { first_refused: refused[1] } : {}),
      http_mean_ms: http.mean_ms,
      http_p50_ms: http.p50_ms,
      http_p99_ms: http.p99_ms,
      sql_ms_per_call: Math.round((stats.total_ms / Math.max(stats.calls, 1)) * 1000) / 1000,
      sql_share_of_http: ratio(stats.total_ms / Math.max(stats.calls, 1), http.mean_ms),
      rows_written: written,
    };
  };
  // A scenario without HTTP: pgbench runs `script` (1,000 sales per transaction) at --import-concurrency.
  const [channel] = await sql<Channel[]>`
    select id, receiving_id, referring_id, currency from public.channels where id = ${fixture.channelId}`;
  const measureSql = async (scenario: "sql" | "floor", seconds: number) => {
    const run = `${RUN}${++runs}`;
    const file = await tempScript(sqlScripts(fixture.keyHash, channel, leads, run)[scenario]);
    try {
      const result = await pgbench(database.url, file, o.importConcurrency, seconds);
      const [{ written }] = await sql`
        select count(*)::int as written from public.purchases where external_id like ${run + "-%"}`;
      // import_purchases answers a refused row inside its answer, which pgbench counts as a call like any other.
      if (written < result.transactions * 1000) {
        throw new Error(`${scenario}: ${written} rows written for ${result.transactions} transactions of 1000`);
      }
      return {
        scenario: scenario === "sql"
          ? "public.import_purchases by pgbench, 1000 rows per call, no HTTP"
          : "floor: the same rows by plain INSERTs (pgbench, 1000 sales per transaction)",
        concurrency: o.importConcurrency,
        rows_per_request: 1000,
        rows_per_s: Math.round(result.tps * 1000),
        latency_ms: result.latency_ms,
        rows_written: written,
      };
    } finally {
      await Deno.remove(file);
    }
  };
  try {
    const scenarios = [0, ...BATCHES];
    const sqlScenarios = ["sql", "floor"] as const;
    for (const rows of scenarios) await measure(rows, 2);
    for (const scenario of sqlScenarios) await measureSql(scenario, 2);
    const best = new Map<number | string, number>();
    const report = (round: number, result: { rows_per_s: number }, key: number | string) => {
      best.set(key, Math.max(best.get(key) ?? 0, result.rows_per_s));
      console.log(JSON.stringify({
        round,
        database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
        ...result,
      }));
    };
    for (let round = 1; round <= o.rounds; round++) {
      for (const rows of scenarios) report(round, await measure(rows, o.seconds), rows);
      for (const scenario of sqlScenarios) report(round, await measureSql(scenario, o.seconds), scenario);
    }
    const single = best.get(0)!;
    console.log(JSON.stringify({
      measure: "rows/s against single create_purchase calls (best round of each)",
      single_rows_per_s: single,
      ...Object.fromEntries(BATCHES.map((rows) => [`batch_${rows}_vs_single`, ratio(best.get(rows)!, single)])),
      sql_1000_rows_per_s: best.get("sql"),
      floor_rows_per_s: best.get("floor"),
      batch_1000_vs_sql_1000: ratio(best.get(1000)!, best.get("sql")!),
      batch_1000_vs_floor: ratio(best.get(1000)!, best.get("floor")!),
      floor_vs_single: ratio(best.get("floor")!, single),
    }));
    console.log(
      JSON.stringify(await typescriptCost(sql, fixture.keyHash, fixture.channelId, leads, `${RUN}${++runs}`)),
    );
  } finally {
    await server.stop();
    await sql.unsafe(`alter database "${db}" reset track_functions`);
    await sql.end();
  }
}
