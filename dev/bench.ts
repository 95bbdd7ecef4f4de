// `deno task bench [--seconds 10] [--concurrency 16]`: create_purchase throughput and latency
// over real HTTP. Starts `dev/serve.ts` as a separate process on the configured database
// (DATABASE_URL, else the embedded one under DATA_DIR, fsync on), builds its own fixtures
// (a channel with a fixed and a percentage purchase trigger), warms up, then keeps
// `concurrency` requests in flight for `seconds` and prints requests/s and p50/p90/p99.
import { parseArgs } from "node:util";
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import { freePort } from "./cluster.ts";
import { openDatabase } from "./database.ts";

const args = parseArgs({
  args: Deno.args,
  options: { seconds: { type: "string", default: "10" }, concurrency: { type: "string", default: "16" } },
});
const seconds = Number(args.values.seconds);
const concurrency = Number(args.values.concurrency);

const database = await openDatabase();
const sql = postgres(database.url, { max: 1, onnotice: () => {} });
const [referrer, receiver] = [
  await ops.createCompany(sql, { name: "Bench referrer" }),
  await ops.createCompany(sql, { name: "Bench receiver" }),
];
const channel = await ops.createChannel(sql, {
  title: "Bench",
  creator: receiver.id as string,
  referring: referrer.id as string,
  receiving: receiver.id as string,
});
await ops.createStatus(sql, { channel: channel.id as string, name: "New" });
await ops.createTrigger(sql, { channel: channel.id as string, on: "purchase", reward: "fixed", amount: "25" });
await ops.createTrigger(sql, { channel: channel.id as string, on: "purchase", reward: "percentage", amount: "7.5" });
const lead = await ops.createLead(sql, { channel: channel.id as string });
const key = await ops.createKey(sql, { company: receiver.id as string });
await sql.end();

const port = freePort();
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-all", new URL("./serve.ts", import.meta.url).pathname],
  env: { DATABASE_URL: database.url, PORT: String(port) },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
// Wait for the server to listen, then keep draining its output.
const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
for (let out = ""; !out.includes("listening");) out += (await reader.read()).value ?? "";
(async () => {
  while (!(await reader.read()).done);
})();

const url = `http://127.0.0.1:${port}/functions/v1/openapi-operations`;
const body = JSON.stringify({ action: "create_purchase", lead_id: lead.id, purchase_amount: "129.99" });
const headers = { "Content-Type": "application/json", "X-Api-Key": key.api_key as string };

async function load(durationMs: number): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const start = performance.now();
      const res = await fetch(url, { method: "POST", headers, body });
      await res.arrayBuffer();
      latencies.push(performance.now() - start);
      if (res.status !== 200) errors++;
    }
  }));
  return { latencies, errors };
}

function percentile(sorted: number[], p: number): string {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(2);
}

try {
  await load(2000);
  const { latencies, errors } = await load(seconds * 1000);
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    action: "create_purchase",
    database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
    concurrency,
    seconds,
    requests: latencies.length,
    errors,
    requests_per_second: Math.round(latencies.length / seconds),
    p50_ms: percentile(latencies, 0.5),
    p90_ms: percentile(latencies, 0.9),
    p99_ms: percentile(latencies, 0.99),
  }));
} finally {
  server.kill("SIGINT");
  await server.status;
  await database.stop();
}
