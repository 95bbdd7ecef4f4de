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
// after it (shared with the actions of that moment): no scheduled sweep runs here. The receiver holds its first
// request until `release` is called.
Deno.test("createApp: an action's webhook is delivered by the sweep it asks for, also while another runs, and at close", async (t) => {
  const env = testEnv();
  const received: string[] = [];
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    received.push(JSON.parse(await req.text()).type);
    if (received.length === 1) await held;
    return new Response(null, { status: 204 });
  });
  const statuses = async (channelId: string) =>
    (await env.sql`select status from public.webhook_deliveries where channels_id = ${channelId} order by created_at`)
      .map((d) => d.status as string);
  // Polls until every delivery of the channel is delivered (or 10 s have passed), then answers the statuses.
  const settled = async (channelId: string) => {
    for (let i = 0; i < 200 && (await statuses(channelId)).some((s) => s !== "delivered"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return await statuses(channelId);
  };
  const withApp = async (run: (app: ReturnType<typeof createApp>) => Promise<void>) => {
    const app = createApp(envOf({ DATABASE_URL, WEBHOOK_ALLOW_PRIVATE_URLS: "true" }));
    try {
      await run(app);
    } finally {
      await app.close();
    }
  };
  try {
    const w = await world(env.sql);
    await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "100" });
    await ops.updateChannel(env.sql, { id: w.channelId, webhookMoney: `http://127.0.0.1:${receiver.addr.port}/` });
    const purchase = { action: "create_purchase", lead_id: w.leadId, purchase_amount: "10" };

    await t.step("a sweep asked for while one runs follows it", async () => {
      await withApp(async (app) => {
        assert.equal((await call(app.handler, purchase, { key: w.receiving.key })).status, 200);
        // The first sweep is now held by the receiver; the second purchase asks for a sweep while it runs.
        for (let i = 0; i < 200 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        assert.equal((await call(app.handler, purchase, { key: w.receiving.key })).status, 200);
        // Past the 50 ms after which the second purchase's sweep is asked for (a slower machine only makes this
        // step pass without testing the follow-up, never fail).
        await new Promise((r) => setTimeout(r, 300));
        release();
        assert.deepEqual(await settled(w.channelId), ["delivered", "delivered"]);
        assert.deepEqual(received, ["purchase.created", "purchase.created"]);
      });
    });

    await t.step("close right after an action starts the sweep it asked for and waits for it", async () => {
      await withApp(async (app) => {
        assert.equal((await call(app.handler, purchase, { key: w.receiving.key })).status, 200);
      });
      assert.deepEqual(await statuses(w.channelId), ["delivered", "delivered", "delivered"]);
      assert.equal(received.length, 3);
    });
  } finally {
    release();
    await receiver.shutdown();
    await env.close();
  }
});
