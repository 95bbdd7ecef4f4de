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
// Prints one JSON line per round and scenario, then the ratios of rows/s against single calls.
import postgres from "postgres";
import type { Database } from "./database.ts";
import { type CompareOptions, projectFixture, ratio, startServer, wrkScript } from "./bench_compare.ts";
import * as ops from "./admin_ops.ts";

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
  try {
    const scenarios = [0, ...BATCHES];
    for (const rows of scenarios) await measure(rows, 2);
    const best = new Map<number, number>();
    for (let round = 1; round <= o.rounds; round++) {
      for (const rows of scenarios) {
        const result = await measure(rows, o.seconds);
        best.set(rows, Math.max(best.get(rows) ?? 0, result.rows_per_s));
        console.log(JSON.stringify({
          round,
          database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
          ...result,
        }));
      }
    }
    const single = best.get(0)!;
    console.log(JSON.stringify({
      measure: "rows/s against single create_purchase calls (best round of each)",
      single_rows_per_s: single,
      ...Object.fromEntries(BATCHES.map((rows) => [`batch_${rows}_vs_single`, ratio(best.get(rows)!, single)])),
    }));
  } finally {
    await server.stop();
    await sql.end();
  }
}
