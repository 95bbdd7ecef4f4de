// Webhook delivery against a real HTTP receiver on 127.0.0.1.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { act, keySequence, LEAD_KEYS, ops, receiver, type TestEnv, testEnv, world } from "./helpers.ts";
import { verifyWebhook } from "../examples/verify_webhook.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { createWebhookSweeper, type SweeperOptions } from "../supabase/functions/_shared/webhooks.ts";
import { DnsError, type Resolver, webhookUrlRefusal } from "../supabase/functions/_shared/webhook_url.ts";

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

// Makes a channel's pending deliveries the first a sweep claims (it claims by next_attempt_at),
// ahead of rows other steps left behind.
async function dueFirst(sql: postgres.Sql, channelId: string) {
  await sql`update public.webhook_deliveries set next_attempt_at = now() - interval '1 hour'
    where channels_id = ${channelId} and status = 'pending'`;
}

// A fetch that must never be called: traffic to a public address is never sent from tests.
function noFetch(calls: string[]): typeof fetch {
  return (input) => {
    calls.push(String(input));
    return Promise.reject(new Error("tests send nothing outside 127.0.0.1"));
  };
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
      const budget = await ops.createProperty(sql, { channel: w.channelId, name: "Budget", type: "number" });
      const created = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        email: "w@example.com",
        properties: [{ property_definitions_id: budget.id, value: 25000 }],
      });
      const leadId = (created.body.lead as { id: string }).id;
      await act(env, w.receiving.key, "update_status", { lead_id: leadId, status: "Won" });
      // get_lead_by_id answers the Lead plus "lead_status"; webhooks carry the Lead itself.
      const { lead_status: _, ...updatedLead } =
        (await act(env, w.receiving.key, "get_lead_by_id", { lead_id: leadId }))
          .body.lead as Record<string, unknown>;
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
          data: { lead: updatedLead, status: "Won" },
        },
      );
      // Keys in the order of docs/webhooks.md, Payloads; the Lead's (nested ones too) as in the API's own answer.
      const leadKeys = keySequence(created.text).slice(1);
      assert.deepEqual(leadKeys.slice(0, LEAD_KEYS.length), LEAD_KEYS);
      assert.deepEqual(leadKeys.slice(LEAD_KEYS.length), [
        "id",
        "value",
        "property_definitions_id",
        "property_definitions",
        "id",
        "name",
        "type",
      ]);
      for (const r of mine) {
        assert.deepEqual(keySequence(r.body), ["type", "id", "created_at", "data", "lead", ...leadKeys, "status"]);
        const [stored] = await sql`select payload::text as text from public.webhook_deliveries
          where events_id = ${r.headers.get("webhook-id")}`;
        assert.equal(r.body, stored.text, "the body is the outbox text, byte for byte");
        assert.equal(r.headers.get("content-type"), "application/json");
        assert.match(r.headers.get("webhook-signature")!, /^v1,[A-Za-z0-9+/]+=*$/);
        // Signed at the attempt: after the event was written, before the attempt was recorded.
        const [span] = await sql`select floor(extract(epoch from e.created_at))::int as written,
            ceil(extract(epoch from a.created_at))::int as recorded
          from public.events e join public.webhook_deliveries d on d.events_id = e.id
          join public.webhook_attempts a on a.webhook_deliveries_id = d.id where e.id = ${r.headers.get("webhook-id")}`;
        const timestamp = Number(r.headers.get("webhook-timestamp"));
        assert.ok(span.written <= timestamp && timestamp <= span.recorded, `${timestamp} in ${JSON.stringify(span)}`);
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
      // Jitter 0.5 is a factor of 1: the delays are exactly 100 ms, then 200 ms.
      const sweeper = sweeperFor({ random: () => 0.5 });
      // After each attempt, the retry it scheduled: next_attempt_at from the attempt's recorded time.
      const scheduled: [number, string, number][] = [];
      for (let i = 0; i < 100; i++) {
        await sweeper.sweep();
        const [d] = await sql`select d.attempts, d.status,
            round(extract(epoch from d.next_attempt_at - a.created_at) * 1000)::int as retry_in_ms
          from public.webhook_deliveries d join public.webhook_attempts a
            on a.webhook_deliveries_id = d.id and a.attempt = d.attempts
          where d.channels_id = ${w.channelId}`;
        if (d && d.status === "pending" && scheduled.at(-1)?.[0] !== d.attempts) {
          scheduled.push([d.attempts, d.status, d.retry_in_ms]);
        }
        if (d?.status === "delivered") break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(scheduled, [[1, "pending", 100], [2, "pending", 200]]);
      const [delivery] = await deliveries(sql, w.channelId);
      assert.deepEqual([delivery.status, delivery.attempts, delivery.last_error], ["delivered", 3, null]);
      assert.deepEqual(delivery.attempt_log.map((a: { status_code: number }) => a.status_code), [500, 500, 200]);
      assert.equal(rx.received.filter((r) => r.path === "/flaky").length, 3);
      // Each retry was made no earlier than it was scheduled (recorded times of the attempts).
      const gaps = await sql`select round(extract(epoch from a.created_at - lag(a.created_at) over (order by a.attempt))
          * 1000)::int as ms from public.webhook_attempts a where a.webhook_deliveries_id = ${delivery.id}
        order by a.attempt offset 1`;
      assert.ok(gaps[0].ms >= 100 && gaps[1].ms >= 200, JSON.stringify(gaps));
      assert.ok(
        new Set(rx.received.filter((r) => r.path === "/flaky").map((r) => r.headers.get("webhook-id"))).size === 1,
      );
    });

    await t.step("a hanging receiver does not slow the API call; the attempt times out and is retried", async () => {
      const hung = await hookedWorld(env, `${rx.base}/hang`, null);
      const sweeper = sweeperFor({ timeoutMs: 300, baseDelayMs: 60_000 });
      // What happened, in order: the API's answer and the end of the sweep it started.
      const order: string[] = [];
      const background: Promise<unknown>[] = [];
      const handler = createHandler({
        db: env.db,
        onWebhooksQueued: () => background.push(sweeper.sweep().then(() => order.push("swept"))),
      });
      const res = await handler(
        new Request("http://127.0.0.1/functions/v1/openapi-operations", {
          method: "POST",
          headers: { "X-Api-Key": hung.receiving.key },
          body: JSON.stringify({ action: "create_lead", channel_id: hung.channelId }),
        }),
      );
      await res.body?.cancel();
      assert.equal(res.status, 200);
      order.push("answered");
      // The answer did not wait for the delivery: the sweep it queued ended after it, by the attempt's timeout.
      await Promise.all(background);
      assert.deepEqual(order, ["answered", "swept"]);
      const [delivery] = await deliveries(sql, hung.channelId);
      assert.deepEqual([delivery.status, delivery.attempts], ["pending", 1]);
      assert.equal(delivery.attempt_log[0].error, "timeout after 300 ms");
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
      const w = await hookedWorld(env, "http://127.0.0.1/ok", null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const before = rx.received.length;
      await createWebhookSweeper({ db: env.db }).sweep();
      const [refused] = await deliveries(sql, w.channelId);
      assert.deepEqual([refused.status, refused.last_error, rx.received.length], [
        "failed",
        "refused: private address",
        before,
      ]);

      // Without the opt-in only ports 80 and 443 are delivered to; with it, the receiver's own.
      const port = await hookedWorld(env, `${rx.base}/ok`, null);
      await act(env, port.receiving.key, "create_lead", { channel_id: port.channelId });
      await createWebhookSweeper({ db: env.db }).sweep();
      assert.deepEqual(
        (await deliveries(sql, port.channelId)).map((d) => [d.status, d.last_error, d.attempts]),
        [["failed", "refused: only ports 80 and 443 are allowed", 1]],
      );
      assert.equal(rx.received.length, before);

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
      // Whether a host name resolving to this address (or spelling) is refused as private.
      const isPrivateAddress = async (ip: string) =>
        await webhookUrlRefusal("https://hooks.example.com/x", {
          allowPrivate: false,
          resolve: () => Promise.resolve([ip]),
        }) === "refused: private address";
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
          "64:ff9b::a00:1", // NAT64 to 10.0.0.1
          "64:ff9b:1::808:808", // local-use NAT64 (RFC 8215), whatever it embeds
          "2001::1", // Teredo
          "2001:0:4136:e378:8000:63bf:3fff:fdd2",
          "::ffff:0:8.8.8.8", // IPv4-translated (RFC 2765)
          "::ffff:0:808:808",
          "::8.8.8.8", // IPv4-compatible, deprecated
          "::808:808",
          "2001:db8::1", // documentation
          "3fff::1",
          "192.0.2.1",
          "198.51.100.1",
          "203.0.113.5",
          "198.18.0.1", // benchmarking
          "240.0.0.1", // reserved
          "255.255.255.255",
          "224.0.0.1",
          "100::1", // discard-only
          "fe80::1%eth0",
          "1.2.3", // inet_aton shorthand: not how URL or a resolver writes an address
          "example.com",
        ]
      ) {
        assert.equal(await isPrivateAddress(ip), true, ip);
      }
      for (
        const ip of [
          "8.8.8.8",
          "172.32.0.1",
          "2606:4700::1111",
          "::ffff:8.8.8.8",
          "2002:808:808::1",
          "64:ff9b::808:808",
        ]
      ) {
        assert.equal(await isPrivateAddress(ip), false, ip);
      }
      const resolveTo = (ips: string[]) => () => Promise.resolve(ips);
      const check = (url: string, ips: string[]) =>
        webhookUrlRefusal(url, { allowPrivate: false, resolve: resolveTo(ips) });
      assert.equal(await check("https://hooks.example.com/x", ["93.184.216.34"]), null);
      assert.equal(await check("https://internal.example.com/x", ["10.0.0.5"]), "refused: private address");
      assert.equal(
        await check("https://mixed.example.com/x", ["93.184.216.34", "2001::1"]),
        "refused: private address",
      );
      assert.equal(await check("http://localhost/x", ["93.184.216.34"]), "refused: private address");
      assert.equal(await check("http://[::1]/x", []), "refused: private address");
      assert.equal(await check("http://[64:ff9b:1::808:808]/x", []), "refused: private address");
      assert.equal(await check("http://[::ffff:0:8.8.8.8]/x", []), "refused: private address");
      assert.equal(await check("http://[2001::1]/x", []), "refused: private address");
      // Ports: 80 and 443 on either scheme, nothing else; with the opt-in, any.
      assert.equal(await check("http://hooks.example.com:80/x", ["93.184.216.34"]), null);
      assert.equal(await check("https://hooks.example.com:443/x", ["93.184.216.34"]), null);
      assert.equal(await check("http://hooks.example.com:443/x", ["93.184.216.34"]), null);
      for (
        const url of ["http://hooks.example.com:8080/x", "https://hooks.example.com:8443/x", "http://[::1]:9000/x"]
      ) {
        assert.equal(await check(url, ["93.184.216.34"]), "refused: only ports 80 and 443 are allowed", url);
      }
      assert.equal(await webhookUrlRefusal("http://127.0.0.1:9000/x", { allowPrivate: true }), null);
      // A name that does not resolve now is not refused: the check throws DnsError, and the
      // delivery is retried (see the next step).
      const failing = (error: Error) => () => Promise.reject(error);
      await assert.rejects(
        webhookUrlRefusal("https://hooks.example.com/x", {
          allowPrivate: false,
          resolve: failing(new Error("SERVFAIL")),
        }),
        new DnsError("cannot resolve hooks.example.com: SERVFAIL"),
      );
      await assert.rejects(
        webhookUrlRefusal("https://nowhere.example.com/x", { allowPrivate: false, resolve: resolveTo([]) }),
        new DnsError("cannot resolve nowhere.example.com: no address"),
      );
      assert.equal(await check("not a url", []), "refused: not a valid URL");
      assert.equal(
        await check("ftp://hooks.example.com/x", ["93.184.216.34"]),
        "refused: only http and https URLs are allowed",
      );
      // The URL parser writes IPv4-mapped addresses in hex; they are still refused.
      assert.equal(await check("http://[::ffff:127.0.0.1]/x", []), "refused: private address");
      assert.equal(await check("http://[::ffff:169.254.169.254]/latest", []), "refused: private address");
    });

    await t.step("a host name that does not resolve now is retried, not failed", async () => {
      const w = await hookedWorld(env, "https://hooks.example.com/x", null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await dueFirst(sql, w.channelId);
      const sent: string[] = [];
      let answers: Resolver[] = [() => Promise.reject(new Error("SERVFAIL")), () => Promise.resolve([])];
      const sweeper = createWebhookSweeper({
        db: env.db,
        batchSize: 1,
        baseDelayMs: 60_000,
        random: () => 0.5,
        fetch: noFetch(sent),
        resolve: (host) => answers.shift()!(host),
      });
      const results = [await sweeper.sweepOnce(), await sweeper.sweepOnce()];
      assert.deepEqual(results, Array(2).fill({ claimed: 1, delivered: 0, retrying: 1, failed: 0, errors: 0 }));
      const rows = await sql`
        select d.status, d.attempts, d.last_error,
          round(extract(epoch from d.next_attempt_at - a.created_at))::int as retry_in_s
        from public.webhook_deliveries d join public.webhook_attempts a on a.webhook_deliveries_id = d.id
        where d.channels_id = ${w.channelId} order by a.created_at`;
      assert.deepEqual(rows.map((r) => [r.status, r.attempts, r.last_error, r.retry_in_s]), [
        ["pending", 1, "dns error: cannot resolve hooks.example.com: SERVFAIL", 60],
        ["pending", 1, "dns error: cannot resolve hooks.example.com: no address", 60],
      ]);
      assert.deepEqual(sent, []);

      // Once the name resolves to a public address on a port other than 80/443, or to a
      // private one, the refusal is permanent.
      await dueFirst(sql, w.channelId);
      await sql`update public.webhook_deliveries set url = 'https://hooks.example.com:8443/x'
        where id = (select id from public.webhook_deliveries where channels_id = ${w.channelId} limit 1)`;
      answers = [() => Promise.resolve(["10.0.0.5"]), () => Promise.resolve(["10.0.0.5"])];
      await sweeper.sweepOnce();
      await sweeper.sweepOnce();
      assert.deepEqual(
        (await deliveries(sql, w.channelId)).map((d) => [d.url, d.status, d.attempts, d.last_error]).sort(),
        [
          ["https://hooks.example.com/x", "failed", 2, "refused: private address"],
          ["https://hooks.example.com:8443/x", "failed", 2, "refused: only ports 80 and 443 are allowed"],
        ],
      );
      assert.deepEqual(sent, []);
    });

    await t.step("the sweep endpoint needs its secret, answers 202 at once and sweeps afterwards", async () => {
      const w = await hookedWorld(env, `${rx.base}/ok`, null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      const background: Promise<unknown>[] = [];
      const handler = createHandler({
        db: env.db,
        sweep: { sweeper: sweeperFor(), secret: "s3cret" },
        background: (work) => background.push(work),
      });
      const url = "http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks";
      for (const authorization of ["", "Bearer wrong", "s3cret"]) {
        const res = await handler(new Request(url, { method: "POST", headers: { Authorization: authorization } }));
        assert.equal(res.status, 401);
        assert.deepEqual((await res.json()).error, "Invalid sweep secret");
      }
      assert.equal(background.length, 0);
      const res = await handler(
        new Request(url, { method: "POST", headers: { Authorization: "Bearer s3cret", "X-Request-Id": "cron-1" } }),
      );
      assert.deepEqual([res.status, await res.text()], [202, '{"accepted":true}']);
      assert.equal(res.headers.get("x-request-id"), "cron-1");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(background.length, 1);
      await Promise.all(background);
      assert.equal((await deliveries(sql, w.channelId))[0].status, "delivered");
      const unconfigured = createHandler({ db: env.db, sweep: { sweeper: sweeperFor(), secret: undefined } });
      const refused = await unconfigured(new Request(url, { method: "POST", headers: { Authorization: "Bearer " } }));
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    });

    await t.step("the sweep endpoint answers before the sweep ends while a receiver hangs", async () => {
      const w = await hookedWorld(env, `${rx.base}/hang`, null);
      await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await dueFirst(sql, w.channelId);
      const order: string[] = [];
      const background: Promise<unknown>[] = [];
      const handler = createHandler({
        db: env.db,
        sweep: { sweeper: sweeperFor({ timeoutMs: 1500, baseDelayMs: 60_000 }), secret: "s3cret" },
        background: (work) => background.push(work.then(() => order.push("swept"))),
      });
      const res = await handler(
        new Request("http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks", {
          method: "POST",
          headers: { Authorization: "Bearer s3cret" },
        }),
      );
      order.push("answered");
      assert.deepEqual([res.status, await res.json()], [202, { accepted: true }]);
      await Promise.all(background);
      // The 202 came first; the sweep ended when the attempt's 1.5 s timeout fired (its recorded error).
      assert.deepEqual(order, ["answered", "swept"]);
      const [d] = await deliveries(sql, w.channelId);
      assert.deepEqual([d.status, d.attempts, d.attempt_log.length, d.attempt_log[0].error], [
        "pending",
        1,
        1,
        "timeout after 1500 ms",
      ]);
      assert.equal(rx.received.filter((r) => r.headers.get("webhook-id") === d.events_id).length, 1);
    });

    await t.step("a sweep starts no batch once its time budget is spent", async () => {
      const w = await hookedWorld(env, `${rx.base}/hang`, null);
      for (let i = 0; i < 3; i++) await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      await dueFirst(sql, w.channelId);
      const sweeper = sweeperFor({ batchSize: 1, timeoutMs: 300, baseDelayMs: 60_000 });
      const none = { claimed: 0, delivered: 0, retrying: 0, failed: 0, errors: 0 };
      assert.deepEqual(await sweeper.sweep({ budgetMs: 0 }), none);
      // The first batch (one hanging delivery, ended by its 300 ms timeout) spends the 100 ms budget:
      // the sweep claims one delivery and starts no second batch.
      assert.deepEqual(await sweeper.sweep({ budgetMs: 100 }), { ...none, claimed: 1, retrying: 1 });
      const attempts = async () => (await deliveries(sql, w.channelId)).map((d) => d.attempts).sort();
      assert.deepEqual(await attempts(), [0, 0, 1]);
      // With budget left, the next batches come.
      assert.deepEqual(await sweeper.sweep({ budgetMs: 10_000, maxRounds: 2 }), { ...none, claimed: 2, retrying: 2 });
      assert.deepEqual(await attempts(), [1, 1, 1]);
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

    await t.step("a sweep that cannot reach the database logs the error after answering", async () => {
      const logged: [string, unknown][] = [];
      const broken = createWebhookSweeper({
        db: { rpc: () => Promise.reject(new Error("secret internals")), close: () => Promise.resolve() },
      });
      const background: Promise<unknown>[] = [];
      const handler = createHandler({
        db: env.db,
        sweep: { sweeper: broken, secret: "s3cret" },
        logError: (id, error) => logged.push([id, error]),
        background: (work) => background.push(work),
      });
      const res = await handler(
        new Request("http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks", {
          method: "POST",
          headers: { Authorization: "Bearer s3cret", "X-Request-Id": "cron-2" },
        }),
      );
      assert.deepEqual([res.status, await res.text()], [202, '{"accepted":true}']);
      // What background gets never rejects: the error is logged with the request's id.
      assert.deepEqual((await Promise.allSettled(background)).map((s) => s.status), ["fulfilled"]);
      assert.equal(logged.length, 1);
      assert.equal(logged[0][0], "cron-2");
      assert.match(String(logged[0][1]), /secret internals/);

      // Without a background dependency the sweep still runs, and its error is still logged.
      const loggedAlone = Promise.withResolvers<unknown>();
      const alone = createHandler({
        db: env.db,
        sweep: { sweeper: broken, secret: "s3cret" },
        logError: (_id, error) => loggedAlone.resolve(error),
      });
      const answer = await alone(
        new Request("http://127.0.0.1/functions/v1/openapi-operations/sweep-webhooks", {
          method: "POST",
          headers: { Authorization: "Bearer s3cret" },
        }),
      );
      assert.equal(answer.status, 202);
      await answer.body?.cancel();
      assert.match(String(await loggedAlone.promise), /secret internals/);
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
