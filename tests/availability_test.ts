import assert from "node:assert/strict";
import { call, DATABASE_URL, errorBody, statusAndBody, testEnv, world } from "./helpers.ts";
import { freePort } from "../dev/cluster.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

// A TCP relay to the real database that can be cut and restored, standing for a database
// that goes away and comes back.
function relay(port: number, target: Deno.NetAddr) {
  let listener: Deno.Listener | null = null;
  const open = new Set<Deno.Conn>();
  async function pipe(from: Deno.Conn, to: Deno.Conn) {
    try {
      await from.readable.pipeTo(to.writable);
    } catch {
      // the other side closed
    }
  }
  return {
    up() {
      listener = Deno.listen({ hostname: "127.0.0.1", port });
      (async () => {
        for await (const client of listener!) {
          const server = await Deno.connect({ hostname: target.hostname, port: target.port });
          open.add(client).add(server);
          pipe(client, server);
          pipe(server, client);
        }
      })().catch(() => {});
    },
    down() {
      listener?.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      open.clear();
    },
  };
}

Deno.test("the database going away answers 503 and the server recovers without a restart", async () => {
  const env = await testEnv();
  const target = new URL(DATABASE_URL);
  const port = freePort();
  const proxy = relay(port, { transport: "tcp", hostname: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(DATABASE_URL);
  viaProxy.port = String(port);
  const db = createPostgresDb(viaProxy.toString(), { max: 2, connectTimeout: 2 });
  const handler = createHandler({ db });
  try {
    const w = await world(env.sql);
    const body = { action: "create_purchase", lead_id: w.leadId };
    proxy.up();
    assert.equal((await call(handler, body, { key: w.receiving.key })).status, 200);

    proxy.down();
    for (let i = 0; i < 3; i++) {
      const reply = await call(handler, body, { key: w.receiving.key });
      assert.deepEqual(statusAndBody(reply), errorBody(reply, 503, "Service unavailable", "service_unavailable"));
      assert.equal(reply.headers.get("retry-after"), "1");
    }

    proxy.up();
    assert.equal((await call(handler, body, { key: w.receiving.key })).status, 200);
    const [row] = await env.sql`select count(*)::int as n from public.purchases where leads_id = ${w.leadId}`;
    assert.equal(row.n, 2);
  } finally {
    proxy.down();
    await db.close();
    await env.close();
  }
});

Deno.test("a statement that runs into the statement timeout answers 503", async () => {
  const env = testEnv();
  const db = createPostgresDb(DATABASE_URL, { max: 2, statementTimeoutMs: 300 });
  const handler = createHandler({ db });
  const blocker = await env.sql.reserve();
  try {
    const w = await world(env.sql);
    // Another transaction holds the lead, so update_lead waits on the row lock until its
    // statement times out.
    await blocker`begin`;
    await blocker`select id from public.leads where id = ${w.leadId} for update`;
    const reply = await call(handler, { action: "update_lead", lead_id: w.leadId, notes: "x" }, {
      key: w.receiving.key,
    });
    assert.deepEqual(statusAndBody(reply), errorBody(reply, 503, "Service unavailable", "service_unavailable"));
    assert.equal(reply.headers.get("retry-after"), "1");
    await blocker`rollback`;
    const [row] = await env.sql`select notes from public.leads where id = ${w.leadId}`;
    assert.equal(row.notes, null);
  } finally {
    blocker.release();
    await db.close();
    await env.close();
  }
});
