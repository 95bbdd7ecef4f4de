// The composition root both the deployed index.ts and `deno task start` use.
import assert from "node:assert/strict";
import { call, DATABASE_URL, ops, testEnv, world } from "./helpers.ts";
import { createApp } from "../supabase/functions/_shared/app.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("createApp: settings are checked at start with messages naming them", () => {
  for (
    const [vars, message] of [
      [{ DATABASE_URL, DATABASE_POOL_SIZE: "0" }, 'DATABASE_POOL_SIZE must be an integer from 1 to 999, got "0"'],
      [{ DATABASE_URL, DATABASE_POOL_SIZE: "many" }, 'DATABASE_POOL_SIZE must be an integer from 1 to 999, got "many"'],
      [{ DATABASE_URL, TRUSTED_PROXY_HOPS: "10" }, 'TRUSTED_PROXY_HOPS must be an integer from 0 to 9, got "10"'],
      [{ DATABASE_URL, TRUSTED_PROXY_HOPS: "-1" }, 'TRUSTED_PROXY_HOPS must be an integer from 0 to 9, got "-1"'],
    ] as const
  ) {
    assert.throws(() => createApp(envOf(vars)), { message });
  }
});

Deno.test("createApp: TRUSTED_PROXY_HOPS chooses which X-Forwarded-For entry the intake limit counts", async () => {
  const env = testEnv();
  const app = createApp(envOf({ DATABASE_URL, TRUSTED_PROXY_HOPS: "2" }));
  try {
    const w = await world(env.sql);
    await env.sql`update public.channels set no_auth_api = true, intake_per_minute = 1 where id = ${w.channelId}`;
    const intake = (forwardedFor: string) =>
      call(app.handler, { action: "lead_external", channel_id: w.channelId }, {
        headers: { "X-Forwarded-For": forwardedFor },
      });
    // Two trusted proxies appended the last two entries: the client is the second from the right.
    assert.equal((await intake("10.0.0.1, 198.51.100.7, 203.0.113.1")).status, 200);
    assert.equal((await intake("10.0.0.2, 198.51.100.7, 203.0.113.2")).status, 429);
    assert.equal((await intake("198.51.100.8, 203.0.113.1")).status, 200);
  } finally {
    await app.close();
    await env.close();
  }
});

// A purchase's webhook goes out through createApp's own sweep, which the action asks for and which starts a moment
// after it (shared with the actions of that moment): no scheduled sweep runs here.
Deno.test("createApp: an action's webhook is delivered by the sweep it asks for, and close starts a waiting one", async () => {
  const env = testEnv();
  const received: string[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    received.push(JSON.parse(await req.text()).type);
    return new Response(null, { status: 204 });
  });
  const outbox = (channelId: string) =>
    env.sql`select type, status from public.webhook_deliveries where channels_id = ${channelId} order by created_at`;
  try {
    const w = await world(env.sql);
    await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "100" });
    await ops.updateChannel(env.sql, { id: w.channelId, webhookMoney: `http://127.0.0.1:${receiver.addr.port}/` });
    const purchase = { action: "create_purchase", lead_id: w.leadId, purchase_amount: "10" };

    const app = createApp(envOf({ DATABASE_URL, WEBHOOK_ALLOW_PRIVATE_URLS: "true" }));
    try {
      assert.equal((await call(app.handler, purchase, { key: w.receiving.key })).status, 200);
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(received, ["purchase.created"]);
      assert.deepEqual([...await outbox(w.channelId)], [{ type: "purchase.created", status: "delivered" }]);
    } finally {
      await app.close();
    }

    // close right after an action: the sweep the action asked for starts then, and close waits for it.
    const closing = createApp(envOf({ DATABASE_URL, WEBHOOK_ALLOW_PRIVATE_URLS: "true" }));
    assert.equal((await call(closing.handler, purchase, { key: w.receiving.key })).status, 200);
    await closing.close();
    assert.deepEqual(received, ["purchase.created", "purchase.created"]);
    assert.deepEqual((await outbox(w.channelId)).map((d) => d.status), ["delivered", "delivered"]);
  } finally {
    await receiver.shutdown();
    await env.close();
  }
});
