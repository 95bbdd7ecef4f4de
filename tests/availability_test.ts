// Outage drills: a database that refuses, hangs or stops answers 503 with Retry-After within
// 2 s of the request (the adapter's per-call deadline), service resumes by itself once the
// database is back, and every acknowledged write is in the database afterwards.
//
// No assertion here measures how long a request took: on a shared machine that proves little
// and fails by accident. The 2 s bound is proven by its mechanism instead. The direct adapter
// races every call against a deadline timer (db_postgres.ts) and answers 503 when it fires, so
// a call can never answer later than that timer; the handler does no I/O before the call. The
// tests record the timers the adapter arms (setTimeout, wrapped for the duration of the calls)
// and assert that each call armed one of the production value, DEADLINE_MS (under 2 s), and
// that each such timer had fired or been cleared by the time its call answered.
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { call, DATABASE_URL, errorBody, relay, type Reply, statusAndBody, testEnv, world } from "./helpers.ts";
import { freePort, startCluster } from "../dev/cluster.ts";
import { migrate } from "../dev/migrate.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { ApiError } from "../supabase/functions/_shared/errors.ts";

/** How long after the request a 503 may come: docs/errors.md, check 8. */
const ANSWER_WITHIN_MS = 2000;
/** The adapter's default per-call deadline (createPostgresDb's deadlineMs). */
const DEADLINE_MS = 1500;

/** A timer armed through setTimeout: its delay, and whether it fired or was cleared. */
interface Timer {
  delay: number;
  state: "armed" | "fired" | "cleared";
}

/** Runs `work` while recording the timers the direct adapter (db_postgres.ts) arms through setTimeout. */
async function recordingTimers<T>(work: () => Promise<T>): Promise<{ result: T; timers: Timer[] }> {
  const [realSet, realClear] = [globalThis.setTimeout, globalThis.clearTimeout];
  const timers: Timer[] = [];
  const byId = new Map<unknown, Timer>();
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, delay = 0, ...args: unknown[]) => {
    // The caller's frame: the adapter's own timers, not the driver's.
    if (!new Error().stack!.split("\n")[2]?.includes("/_shared/db_postgres.ts")) {
      return realSet(callback, delay, ...args);
    }
    const timer: Timer = { delay, state: "armed" };
    timers.push(timer);
    const id = realSet(() => {
      timer.state = "fired";
      callback(...args);
    }, delay);
    byId.set(id, timer);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: Parameters<typeof clearTimeout>[0]) => {
    const timer = byId.get(id);
    if (timer?.state === "armed") timer.state = "cleared";
    realClear(id);
  }) as typeof clearTimeout;
  try {
    return { result: await work(), timers };
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
}

/** Each of `calls` calls armed a deadline of DEADLINE_MS, and none is still pending now that they answered. */
function assertDeadlines(timers: Timer[], calls: number) {
  assert.ok(DEADLINE_MS < ANSWER_WITHIN_MS);
  assert.deepEqual(timers.map((t) => t.delay), Array(calls).fill(DEADLINE_MS));
  assert.deepEqual(timers.filter((t) => t.state === "armed"), [], "a call answered before its deadline ended");
}

function assertUnavailable(reply: Reply) {
  assert.deepEqual(statusAndBody(reply), errorBody(reply, 503, "Service unavailable", "service_unavailable"));
  assert.equal(reply.headers.get("retry-after"), "1");
}

Deno.test("a database that refuses or hangs answers 503 within 2 s, and service resumes by itself", async (t) => {
  const env = testEnv();
  const target = new URL(DATABASE_URL);
  const port = freePort();
  const proxy = relay(port, { hostname: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(DATABASE_URL);
  viaProxy.port = String(port);
  // The production defaults: pool of 5, 1.5 s deadline per call.
  const db = createPostgresDb(viaProxy.toString());
  const handler = createHandler({ db });
  try {
    const w = await world(env.sql);
    const body = { action: "create_purchase", lead_id: w.leadId };
    const send = () => call(handler, body, { key: w.receiving.key });
    proxy.up();
    assert.equal((await send()).status, 200);

    for (const [mode, cut] of [["refused", proxy.down], ["hanging", proxy.hang]] as const) {
      await t.step(`${mode}: 8 concurrent requests all answer 503, each bounded by its deadline`, async () => {
        cut();
        const { result: replies, timers } = await recordingTimers(() => Promise.all(Array.from({ length: 8 }, send)));
        replies.forEach(assertUnavailable);
        assertDeadlines(timers, 8);
      });
      await t.step(`${mode}: the next request after the database is back answers 200`, async () => {
        proxy.up();
        const { result: reply, timers } = await recordingTimers(send);
        assert.equal(reply.status, 200, reply.text);
        assertDeadlines(timers, 1);
      });
    }
    const [row] = await env.sql`select count(*)::int as n from public.purchases where leads_id = ${w.leadId}`;
    assert.equal(row.n, 3);
  } finally {
    proxy.down();
    await db.close();
    await env.close();
  }
});

Deno.test("a statement that runs into the deadline answers 503 and writes nothing", async () => {
  const env = testEnv();
  const db = createPostgresDb(DATABASE_URL, { max: 2, deadlineMs: 300 });
  const handler = createHandler({ db });
  const blocker = await env.sql.reserve();
  try {
    const w = await world(env.sql);
    // Another transaction holds the lead, so update_lead waits on the row lock past its deadline.
    await blocker`begin`;
    await blocker`select id from public.leads where id = ${w.leadId} for update`;
    const reply = await call(handler, { action: "update_lead", lead_id: w.leadId, notes: "x" }, {
      key: w.receiving.key,
    });
    assertUnavailable(reply);
    await blocker`rollback`;
    const [row] = await env.sql`select notes from public.leads where id = ${w.leadId}`;
    assert.equal(row.notes, null);
  } finally {
    blocker.release();
    await db.close();
    await env.close();
  }
});

Deno.test("a call whose answer arrives without its row answers 503, not 500", async () => {
  const env = testEnv();
  // The adapter reads the one row of `select public.<fn>(…) as result`; a set-returning function
  // that returns nothing yields the cut-off answer postgres.js gave during a server shutdown.
  await env.sql`create function public.availability_no_row(args jsonb) returns setof json language sql
    as $$ select null::json where false $$`;
  const db = createPostgresDb(DATABASE_URL, { max: 1, deadlineMs: 10_000 });
  try {
    await assert.rejects(db.rpc("availability_no_row", { args: {} }), (error) => {
      assert.ok(error instanceof ApiError);
      assert.deepEqual([error.status, error.code, error.message], [503, "service_unavailable", "Service unavailable"]);
      return true;
    });
  } finally {
    await db.close();
    await env.sql`drop function public.availability_no_row(jsonb)`;
    await env.close();
  }
});

Deno.test({
  name: "outage drill: the database stops for 5 s under load; every request meanwhile 503, then 200 again, no 200 lost",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A cluster of its own, so stopping it leaves the suite's database alone.
    const dir = await Deno.makeTempDir({ prefix: "openapi-operations-outage-" });
    await Deno.chmod(dir, 0o755);
    const port = freePort();
    let cluster = await startCluster(join(dir, "data"), { fast: true, port });
    const sql = postgres(cluster.url, { max: 2, onnotice: () => {} });
    const db = createPostgresDb(cluster.url);
    const handler = createHandler({ db });
    try {
      await migrate(sql);
      const w = await world(sql);
      await sql.end();

      // Where the drill was when a request was sent and when it was answered: requests are
      // classified by these events, not by clock readings.
      type Phase = "up" | "stopping" | "down" | "restarting" | "back";
      let phase: Phase = "up";
      const replies: { client: number; sent: Phase; answered: Phase; status: number; id?: string }[] = [];
      let stopping = false;
      // Four clients, each sending one create_purchase after another until the drill ends.
      const clients = Array.from({ length: 4 }, async (_, client) => {
        while (!stopping) {
          const sent = phase;
          const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId, purchase_amount: 1 }, {
            key: w.receiving.key,
          });
          const id = reply.status === 200 ? (reply.body.purchase as { id: string }).id : undefined;
          replies.push({ client, sent, answered: phase, status: reply.status, id });
          if (reply.status === 503) assertUnavailable(reply);
          else assert.equal(reply.status, 200, reply.text);
          // A client that was just told to retry waits a little, as Retry-After asks.
          if (reply.status === 503) await new Promise((r) => setTimeout(r, 100));
        }
      });
      await new Promise((r) => setTimeout(r, 1500));
      phase = "stopping";
      await cluster.stop();
      phase = "down";
      await new Promise((r) => setTimeout(r, 5000));
      // From here the database may answer before startCluster returns.
      phase = "restarting";
      cluster = await startCluster(join(dir, "data"), { fast: true, port });
      phase = "back";
      await new Promise((r) => setTimeout(r, 3000));
      stopping = true;
      await Promise.all(clients);

      const count = (sent: Phase, answered: Phase, status: number) =>
        replies.filter((r) => r.sent === sent && r.answered === answered && r.status === status).length;
      const counts = (sent: Phase, answered: Phase) => ({
        200: count(sent, answered, 200),
        503: count(sent, answered, 503),
      });
      assert.ok(counts("up", "up")[200] > 0, "before the stop");
      assert.equal(counts("up", "up")[503], 0, "before the stop");
      assert.ok(counts("down", "down")[503] > 0, "during the outage");
      assert.equal(counts("down", "down")[200], 0, "during the outage");
      // Service resumed by itself once the database was back: a connection of the pool of 5 that
      // died with the server fails its next call at most once (a 503), then every client gets 200s.
      assert.ok(counts("back", "back")[503] <= 5, JSON.stringify(counts("back", "back")));
      for (let client = 0; client < 4; client++) {
        const mine = replies.filter((r) => r.client === client && r.sent === "back").map((r) => r.status);
        const firstOk = mine.indexOf(200);
        assert.ok(firstOk >= 0, `client ${client} got no 200 after the restart`);
        assert.deepEqual(mine.slice(firstOk).filter((s) => s !== 200), [], `client ${client} after its first 200`);
      }
      console.log(JSON.stringify({
        requests: replies.length,
        ok: replies.filter((r) => r.status === 200).length,
        unavailable: replies.filter((r) => r.status === 503).length,
      }));

      // Every acknowledged purchase is there.
      const check = postgres(cluster.url, { max: 1, onnotice: () => {} });
      const acknowledged = replies.filter((r) => r.id).map((r) => r.id!);
      const [row] =
        await check`select count(*)::int as n from public.purchases where id = any(${acknowledged}::uuid[])`;
      await check.end();
      assert.equal(row.n, acknowledged.length);
    } finally {
      await db.close();
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
