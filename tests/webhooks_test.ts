// Webhook delivery against a real HTTP receiver on 127.0.0.1.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { act, ops, type TestEnv, testEnv, world } from "./helpers.ts";
import { verifyWebhook } from "../examples/verify_webhook.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { createWebhookSweeper, type SweeperOptions } from "../supabase/functions/_shared/webhooks.ts";
import { isPrivateAddress, webhookUrlRefusal } from "../supabase/functions/_shared/webhook_url.ts";

interface Received {
  path: string;
  at: number;
  body: string;
  headers: Headers;
}

// A receiver whose paths behave differently: /ok answers 204, /flaky fails twice then 200,
// /hang never answers (until the caller gives up), /redirect answers 302.
function receiver() {
  const received: Received[] = [];
  let flaky = 0;
  const hanging: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    received.push({ path, at: performance.now(), body: await req.text(), headers: req.headers });
    if (path === "/flaky") return new Response(null, { status: ++flaky <= 2 ? 500 : 200 });
    if (path === "/redirect") return Response.redirect("http://127.0.0.1:1/elsewhere", 302);
    if (path === "/hang") {
      await new Promise<void>((resolve) => hanging.push(resolve));
      return new Response(null, { status: 200 });
    }
    return new Response(null, { status: 204 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    received,
    close: async () => {
      hanging.forEach((release) => release());
      await server.shutdown();
    },
  };
}

async function hookedWorld(env: TestEnv, newLead: string | null, statusUpdate: string | null) {
  const w = await world(env.sql);
  await env.sql`update public.channels set webhook_new_lead = ${newLead}, webhook_status_update = ${statusUpdate}
    where id = ${w.channelId}`;
  const [channel] = await env.sql`select webhook_secret from public.channels where id = ${w.channelId}`;
  return { ...w, secret: channel.webhook_secret as string };
}

async function deliveries(sql: postgres.Sql, channelId: string) {
  return await sql`
    select d.*, (select json_agg(a order by a.attempt) from public.webhook_attempts a
      where a.webhook_deliveries_id = d.id) as attempt_log
    from public.webhook_deliveries d where d.channels_id = ${channelId} order by d.created_at, d.id`;
}

Deno.test("webhooks", async (t) => {
  const env = testEnv();
  const { sql } = env;
  const rx = receiver();
  const sweeperFor = (options: Partial<SweeperOptions> = {}) =>
    createWebhookSweeper({ db: env.db, allowPrivateUrls: true, baseDelayMs: 100, ...options });
  // Deliveries of other tests' channels may be due too; each step sweeps until its own are done.
  try {
    await t.step("create_lead and update_status deliver the documented payload, signed", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, `${rx.base}/ok`);
      await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      const created = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        email: "w@example.com",
      });
      const leadId = (created.body.lead as { id: string }).id;
      await act(env, w.receiving.key, "update_status", { lead_id: leadId, status: "Won" });
      const full = await act(env, w.receiving.key, "get_lead_by_id", { lead_id: leadId });
      await sweeperFor().sweep();

      const events = await sql`select id, category, created_at from public.events where leads_id = ${leadId}
        order by created_at, category`;
      const mine = rx.received.filter((r) => events.some((e) => e.id === r.headers.get("webhook-id")));
      assert.equal(mine.length, 2);
      const byType = Object.fromEntries(mine.map((r) => [JSON.parse(r.body).type, r]));
      const newLeadEvent = events.find((e) => e.category === "new_lead")!;
      const statusEvent = events.find((e) => e.category === "status_change")!;
      assert.deepEqual(verifyWebhook(w.secret, byType["lead.created"].body, byType["lead.created"].headers), {
        type: "lead.created",
        id: newLeadEvent.id,
        created_at: newLeadEvent.created_at.toISOString(),
        data: { lead: created.body.lead, status: "New" },
      });
      assert.deepEqual(
        verifyWebhook(w.secret, byType["lead.status_updated"].body, byType["lead.status_updated"].headers),
        {
          type: "lead.status_updated",
          id: statusEvent.id,
          created_at: statusEvent.created_at.toISOString(),
          data: { lead: full.body.lead, status: "Won" },
        },
      );
      for (const r of mine) {
        assert.equal(r.headers.get("content-type"), "application/json");
        assert.match(r.headers.get("webhook-signature")!, /^v1,[A-Za-z0-9+/]+=*$/);
        assert.ok(Math.abs(Number(r.headers.get("webhook-timestamp")) - Date.now() / 1000) < 60);
        assert.throws(() => verifyWebhook("whsec_" + btoa("another secret, 24 bytes"), r.body, r.headers));
      }
      const rows = await deliveries(sql, w.channelId);
      assert.deepEqual(rows.map((d) => [d.type, d.status, d.attempts, d.attempt_log.length]), [
        ["lead.created", "delivered", 1, 1],
        ["lead.status_updated", "delivered", 1, 1],
      ]);
    });

    await t.step("lead_external and update_lead deliver nothing", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, `${rx.base}/ok`);
      await sql`update public.channels set no_auth_api = true where id = ${w.channelId}`;
      await act(env, undefined, "lead_external", { channel_id: w.channelId });
      await act(env, w.receiving.key, "update_lead", { lead_id: w.leadId, notes: "x" });
      assert.deepEqual([...await deliveries(sql, w.channelId)], []);
    });

    await t.step("a receiver that fails twice then succeeds gets three attempts with growing delays", async () => {
      const w = await hookedWorld(env, `${rx.base}/flaky`, null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const sweeper = sweeperFor({ random: () => 0.5 });
      for (let i = 0; i < 100; i++) {
        await sweeper.sweep();
        const [d] = await deliveries(sql, w.channelId);
        if (d.status !== "pending") break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const [delivery] = await deliveries(sql, w.channelId);
      assert.deepEqual([delivery.status, delivery.attempts, delivery.last_error], ["delivered", 3, null]);
      assert.deepEqual(delivery.attempt_log.map((a: { status_code: number }) => a.status_code), [500, 500, 200]);
      const times = rx.received.filter((r) => r.path === "/flaky").map((r) => r.at);
      assert.equal(times.length, 3);
      const [first, second] = [times[1] - times[0], times[2] - times[1]];
      assert.ok(first >= 90 && second > first, `delays ${first} then ${second} ms should grow from 100 ms`);
      assert.ok(
        new Set(rx.received.filter((r) => r.path === "/flaky").map((r) => r.headers.get("webhook-id"))).size === 1,
      );
    });

    await t.step("a hanging receiver does not slow the API call; the attempt times out and is retried", async () => {
      const plain = await hookedWorld(env, null, null);
      const hung = await hookedWorld(env, `${rx.base}/hang`, null);
      const sweeper = sweeperFor({ timeoutMs: 300, baseDelayMs: 60_000 });
      const background: Promise<unknown>[] = [];
      const handler = createHandler({ db: env.db, onWebhooksQueued: () => background.push(sweeper.sweep()) });
      const timed = async (w: { receiving: { key: string }; channelId: string }) => {
        const started = performance.now();
        const res = await handler(
          new Request("http://127.0.0.1/functions/v1/openapi-operations", {
            method: "POST",
            headers: { "X-Api-Key": w.receiving.key },
            body: JSON.stringify({ action: "create_lead", channel_id: w.channelId }),
          }),
        );
        await res.body?.cancel();
        assert.equal(res.status, 200);
        return performance.now() - started;
      };
      await timed(plain);
      const without = [await timed(plain), await timed(plain), await timed(plain)];
      const withHook = await timed(hung);
      const baseline = Math.max(...without);
      assert.ok(withHook < baseline * 5 + 250, `with a hanging receiver ${withHook} ms, without ${baseline} ms`);
      await Promise.all(background);
      const [delivery] = await deliveries(sql, hung.channelId);
      assert.deepEqual([delivery.status, delivery.attempts], ["pending", 1]);
      assert.equal(delivery.attempt_log[0].error, "timeout after 300 ms");
      assert.ok(delivery.attempt_log[0].latency_ms >= 300);
    });

    await t.step("a rolled-back API call queues nothing", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      const reply = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        properties: [{ property_definitions_id: crypto.randomUUID(), value: "x" }],
      });
      assert.equal(reply.status, 400);
      assert.deepEqual([...await deliveries(sql, w.channelId)], []);
    });

    await t.step("two sweepers at once deliver each delivery once", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      for (let i = 0; i < 30; i++) await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const queued = (await deliveries(sql, w.channelId)).map((d) => d.events_id);
      const before = rx.received.length;
      const [a, b] = [sweeperFor({ batchSize: 7 }), sweeperFor({ batchSize: 7 })];
      await Promise.all([a.sweep(), b.sweep(), a.sweep(), b.sweep()]);
      const ids = rx.received.slice(before).map((r) => r.headers.get("webhook-id")).filter((id) => queued.includes(id));
      assert.equal(ids.length, 30);
      assert.equal(new Set(ids).size, 30);
      const rows = await deliveries(sql, w.channelId);
      assert.ok(rows.every((d) => d.status === "delivered" && d.attempts === 1));
    });

    await t.step("private and non-http URLs are refused without the opt-in, and delivered with it", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const before = rx.received.length;
      await createWebhookSweeper({ db: env.db }).sweep();
      const [refused] = await deliveries(sql, w.channelId);
      assert.deepEqual([refused.status, refused.last_error, rx.received.length], [
        "failed",
        "refused: private address",
        before,
      ]);

      const allowed = await hookedWorld(env, `${rx.base}/ok`, null);
      await act(env, allowed.receiving.key, "create_lead", { channel_id: allowed.channelId });
      await sweeperFor().sweep();
      assert.equal((await deliveries(sql, allowed.channelId))[0].status, "delivered");

      const ftp = await hookedWorld(env, "ftp://127.0.0.1/x", null);
      await act(env, ftp.receiving.key, "create_lead", { channel_id: ftp.channelId });
      await sweeperFor().sweep();
      assert.deepEqual(
        (await deliveries(sql, ftp.channelId)).map((d) => [d.status, d.last_error]),
        [["failed", "refused: only http and https URLs are allowed"]],
      );

      const redirect = await hookedWorld(env, `${rx.base}/redirect`, null);
      await act(env, redirect.receiving.key, "create_lead", { channel_id: redirect.channelId });
      await sweeperFor().sweep();
      const [bounced] = await deliveries(sql, redirect.channelId);
      assert.deepEqual([bounced.status, bounced.last_error], ["pending", "HTTP 302"], "redirects are not followed");
    });

    await t.step("address classification and name resolution", async () => {
      for (
        const ip of [
          "127.0.0.1",
          "10.1.2.3",
          "172.16.0.1",
          "192.168.1.1",
          "169.254.169.254",
          "100.64.0.1",
          "0.0.0.0",
          "::1",
          "::",
          "fe80::1",
          "fd00::1",
          "fec0::1",
          "ff02::1",
          "::ffff:127.0.0.1",
          "::ffff:7f00:1",
          "::ffff:a9fe:a9fe",
          "::7f00:1",
          "64:ff9b::7f00:1",
          "2002:7f00:1::",
          "1::2::3",
        ]
      ) {
        assert.equal(isPrivateAddress(ip), true, ip);
      }
      for (const ip of ["8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]) {
        assert.equal(isPrivateAddress(ip), false, ip);
      }
      const resolveTo = (ips: string[]) => () => Promise.resolve(ips);
      const check = (url: string, ips: string[]) =>
        webhookUrlRefusal(url, { allowPrivate: false, resolve: resolveTo(ips) });
      assert.equal(await check("https://hooks.example.com/x", ["93.184.216.34"]), null);
      assert.equal(await check("https://internal.example.com/x", ["10.0.0.5"]), "refused: private address");
      assert.equal(await check("https://nowhere.example.com/x", []), "refused: host does not resolve");
      assert.equal(await check("http://localhost:9000/x", ["93.184.216.34"]), "refused: private address");
      assert.equal(await check("http://[::1]:9000/x", []), "refused: private address");
      assert.equal(await check("not a url", []), "refused: not a valid URL");
      // The URL parser writes IPv4-mapped addresses in hex; they are still refused.
      assert.equal(await check("http://[::ffff:127.0.0.1]:9000/x", []), "refused: private address");
      assert.equal(await check("http://[::ffff:169.254.169.254]/latest", []), "refused: private address");
    });

    await t.step("the sweep endpoint needs its secret and reports what it did", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const handler = createHandler({ db: env.db, sweep: { sweeper: sweeperFor(), secret: "s3cret" } });
      const url = "http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks";
      for (const authorization of ["", "Bearer wrong", "s3cret"]) {
        const res = await handler(new Request(url, { method: "POST", headers: { Authorization: authorization } }));
        assert.equal(res.status, 401);
        assert.deepEqual((await res.json()).error, "Invalid sweep secret");
      }
      const res = await handler(new Request(url, { method: "POST", headers: { Authorization: "Bearer s3cret" } }));
      const result = await res.json();
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(result), ["claimed", "delivered", "retrying", "failed", "errors"]);
      assert.ok(result.delivered >= 1);
      assert.equal((await deliveries(sql, w.channelId))[0].status, "delivered");
      const unconfigured = createHandler({ db: env.db, sweep: { sweeper: sweeperFor(), secret: undefined } });
      const refused = await unconfigured(new Request(url, { method: "POST", headers: { Authorization: "Bearer " } }));
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    });

    await t.step("a channel without a valid signing secret fails the delivery without retrying", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      await sql`update public.channels set webhook_secret = 'not-a-secret' where id = ${w.channelId}`;
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await sweeperFor().sweep();
      const [d] = await deliveries(sql, w.channelId);
      assert.deepEqual([d.status, d.last_error, d.attempts], [
        "failed",
        "refused: the channel has no valid webhook secret",
        1,
      ]);
      assert.equal(rx.received.filter((r) => r.headers.get("webhook-id") === d.events_id).length, 0);
    });

    await t.step("a sweep that cannot reach the database answers 500 without internals", async () => {
      const logged: unknown[] = [];
      const broken = createWebhookSweeper({
        db: { rpc: () => Promise.reject(new Error("secret internals")), close: () => Promise.resolve() },
      });
      const handler = createHandler({
        db: env.db,
        sweep: { sweeper: broken, secret: "s3cret" },
        logError: (_id, error) => logged.push(error),
      });
      const res = await handler(
        new Request("http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks", {
          method: "POST",
          headers: { Authorization: "Bearer s3cret" },
        }),
      );
      const body = await res.json();
      assert.deepEqual([res.status, body.error, body.code], [500, "Internal server error", "internal_error"]);
      assert.match(String(logged[0]), /secret internals/);
    });

    await t.step("the sweep endpoint answers only POST", async () => {
      const handler = createHandler({ db: env.db, sweep: { sweeper: sweeperFor(), secret: "s3cret" } });
      const res = await handler(
        new Request("http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks", {
          headers: { Authorization: "Bearer s3cret" },
        }),
      );
      assert.equal(res.status, 405);
      assert.equal((await res.json()).error, "Method not allowed");
    });

    await t.step("a delivery past the retry window is marked failed", async () => {
      const w = await hookedWorld(env, "http://127.0.0.1:1/closed", null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await sql`update public.webhook_deliveries set created_at = now() - interval '24 hours'
        where channels_id = ${w.channelId}`;
      await sweeperFor().sweep();
      const [d] = await deliveries(sql, w.channelId);
      assert.equal(d.status, "failed");
      assert.match(d.last_error, /^connection error/);
    });
  } finally {
    await rx.close();
    await env.close();
  }
});
