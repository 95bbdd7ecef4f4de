// Behind Supavisor's transaction pooler (port 6543) consecutive statements of one client
// connection may run on different server connections, so a named prepared statement can be
// missing: the direct adapter then sends only unnamed statements. Proven on the wire: a relay on
// 127.0.0.1:6543 records the extended-protocol Parse messages the adapter sends.
import assert from "node:assert/strict";
import { call, DATABASE_URL, relay, testEnv, world } from "./helpers.ts";
import { freePort } from "../dev/cluster.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { isTransactionPooler } from "../supabase/functions/_shared/db_options.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

// The statement names of the Parse ('P') messages in a client's byte stream: the first message
// (startup) has no type byte, every later one is type + int32 length (which counts itself).
function parseNames(stream: Uint8Array): string[] {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const names: string[] = [];
  let at = view.getInt32(0);
  while (at + 5 <= stream.length) {
    const type = String.fromCharCode(stream[at]);
    const length = view.getInt32(at + 1);
    if (type === "P") {
      const start = at + 5;
      names.push(new TextDecoder().decode(stream.subarray(start, stream.indexOf(0, start))));
    }
    at += 1 + length;
  }
  return names;
}

async function namesSentThrough(port: number): Promise<string[]> {
  const env = testEnv();
  const target = new URL(DATABASE_URL);
  const chunks: Uint8Array[] = [];
  const proxy = relay(port, { hostname: target.hostname, port: Number(target.port || 5432) }, (c) => chunks.push(c));
  const url = new URL(DATABASE_URL);
  url.port = String(port);
  const db = createPostgresDb(url.toString(), { max: 1 });
  try {
    proxy.up();
    const w = await world(env.sql);
    const handler = createHandler({ db });
    for (let i = 0; i < 3; i++) {
      const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.equal(reply.status, 200, reply.text);
    }
  } finally {
    await db.close();
    proxy.down();
    await env.close();
  }
  const stream = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (stream.set(c, at), at + c.length), 0);
  return parseNames(stream);
}

Deno.test("port 6543 is the transaction pooler", () => {
  assert.equal(isTransactionPooler("postgres://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres"), true);
  assert.equal(isTransactionPooler("postgres://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"), false);
  assert.equal(isTransactionPooler("postgres://u:p@db.ref.supabase.co/postgres"), false);
});

Deno.test("behind the pooler every statement is unnamed; elsewhere the call is prepared once", async () => {
  const pooled = await namesSentThrough(6543);
  assert.ok(pooled.length >= 3, `${pooled.length} Parse messages`);
  assert.deepEqual(new Set(pooled), new Set([""]));
  const direct = await namesSentThrough(freePort());
  assert.ok(direct.length >= 1 && direct.every((name) => name !== ""), JSON.stringify(direct));
});
