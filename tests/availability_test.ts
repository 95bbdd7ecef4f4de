// Outage drills: a database that refuses, hangs or stops answers 503 with Retry-After within
// 2 s of the request (the adapter's per-call deadline), service resumes by itself within 2 s of
// the database returning, and every acknowledged write is in the database afterwards.
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { call, DATABASE_URL, errorBody, relay, type Reply, statusAndBody, testEnv, world } from "./helpers.ts";
import { freePort, startCluster } from "../dev/cluster.ts";
import { migrate } from "../dev/migrate.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

/** How long after the request a 503 may come: docs/errors.md, check 8. */
const ANSWER_WITHIN_MS = 2000;

async function timed(send: () => Promise<Reply>): Promise<Reply & { ms: number }> {
  const started = performance.now();
  const reply = await send();
  return { ...reply, ms: performance.now() - started };
}

function assertUnavailable(reply: Reply & { ms: number }) {
  assert.deepEqual(statusAndBody(reply), errorBody(reply, 503, "Service unavailable", "service_unavailable"));
  assert.equal(reply.headers.get("retry-after"), "1");
  assert.ok(reply.ms < ANSWER_WITHIN_MS, `answered after ${reply.ms.toFixed(0)} ms`);
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
      await t.step(`${mode}: 8 concurrent requests all answer 503 within 2 s`, async () => {
        cut();
        const replies = await Promise.all(Array.from({ length: 8 }, () => timed(send)));
        replies.forEach(assertUnavailable);
      });
      await t.step(`${mode}: the next request after the database is back answers 200`, async () => {
        proxy.up();
        const reply = await timed(send);
        assert.equal(reply.status, 200, reply.text);
        assert.ok(reply.ms < ANSWER_WITHIN_MS, `recovered after ${reply.ms.toFixed(0)} ms`);
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
    const reply = await timed(() =>
      call(handler, { action: "update_lead", lead_id: w.leadId, notes: "x" }, { key: w.receiving.key })
    );
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

Deno.test({
  name: "outage drill: the database stops for 5 s under load; 503s within 2 s, recovery within 2 s, no 200 lost",
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

      const replies: { at: number; ms: number; status: number; id?: string }[] = [];
      const t0 = performance.now();
      let stopping = false;
      // Four clients, each sending one create_purchase after another for at most 14 s.
      const clients = Array.from({ length: 4 }, async () => {
        while (!stopping && performance.now() - t0 < 14_000) {
          const at = performance.now() - t0;
          const reply = await timed(() =>
            call(handler, { action: "create_purchase", lead_id: w.leadId, purchase_amount: 1 }, {
              key: w.receiving.key,
            })
          );
          const id = reply.status === 200 ? (reply.body.purchase as { id: string }).id : undefined;
          replies.push({ at, ms: reply.ms, status: reply.status, id });
          if (reply.status === 503) assertUnavailable(reply);
          else assert.equal(reply.status, 200, reply.text);
          // A client that was just told to retry waits a little, as Retry-After asks.
          if (reply.status === 503) await new Promise((r) => setTimeout(r, 100));
        }
      });
      await new Promise((r) => setTimeout(r, 1500));
      await cluster.stop();
      const stoppedAt = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5000));
      // From here the database may answer before startCluster returns.
      const restartAt = performance.now() - t0;
      cluster = await startCluster(join(dir, "data"), { fast: true, port });
      const backAt = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 3000));
      stopping = true;
      await Promise.all(clients);

      const during = replies.filter((r) => r.at > stoppedAt + 100 && r.at + r.ms < restartAt);
      assert.ok(during.length > 0 && during.every((r) => r.status === 503), "every request during the outage: 503");
      const firstOkAfter = replies.filter((r) => r.status === 200 && r.at + r.ms > backAt)
        .map((r) => r.at + r.ms).sort((a, b) => a - b)[0];
      assert.ok(firstOkAfter !== undefined, "service resumed");
      assert.ok(firstOkAfter - backAt < ANSWER_WITHIN_MS, `resumed ${(firstOkAfter - backAt).toFixed(0)} ms after`);
      console.log(JSON.stringify({
        requests: replies.length,
        ok: replies.filter((r) => r.status === 200).length,
        unavailable: replies.filter((r) => r.status === 503).length,
        slowest_503_ms: Math.round(Math.max(...replies.filter((r) => r.status === 503).map((r) => r.ms))),
        resumed_after_ms: Math.round(firstOkAfter - backAt),
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
