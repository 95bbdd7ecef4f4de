// Money webhooks (API.md §9, docs/webhooks.md): purchase.created, refund.created,
// reward_event.updated, payout.created / paid / cancelled, delivered through the real handler,
// database and sweeper to a receiver on 127.0.0.1, checked against the actions' own answers.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { act, keySequence, ops, receiver, type TestEnv, testEnv, world } from "./helpers.ts";
import { verifyWebhook } from "../examples/verify_webhook.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { createWebhookSweeper, type SweeperOptions } from "../supabase/functions/_shared/webhooks.ts";

// A world whose channel has a fixed 100 and a 10 % purchase trigger, and webhook_money set
// through the admin operation (null: none).
async function moneyWorld(env: TestEnv, url: string | null, holdDays = 30) {
  const w = await world(env.sql, { holdDays });
  const fixed = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "purchase",
    reward: "fixed",
    amount: "100",
  });
  const percent = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "purchase",
    reward: "percentage",
    amount: "10",
  });
  if (url !== null) await ops.updateChannel(env.sql, { id: w.channelId, webhookMoney: url });
  const [channel] = await env.sql`select webhook_secret from public.channels where id = ${w.channelId}`;
  return { ...w, secret: channel.webhook_secret as string, fixedId: fixed.id as string, percentId: percent.id };
}

async function outbox(sql: postgres.Sql, channelId: string) {
  return await sql`select id, type, status, attempts, events_id, last_error, payload::text as text,
      created_at
    from public.webhook_deliveries where channels_id = ${channelId} order by created_at, id`;
}

Deno.test("money webhooks", async (t) => {
  const env = testEnv();
  const { sql } = env;
  const rx = receiver();
  const sweeperFor = (options: Partial<SweeperOptions> = {}) =>
    createWebhookSweeper({ db: env.db, allowPrivateUrls: true, baseDelayMs: 60_000, ...options });
  const sweeper = sweeperFor();

  // Sweeps until the channel's deliveries are all delivered; returns each with what the
  // receiver got, verified with the channel's secret, in outbox order.
  async function delivered(w: { channelId: string; secret: string }) {
    for (let i = 0; i < 50; i++) {
      const rows = await outbox(sql, w.channelId);
      if (rows.every((d) => d.status === "delivered")) break;
      await sweeper.sweep();
    }
    const rows = await outbox(sql, w.channelId);
    return rows.map((d) => {
      assert.equal(d.status, "delivered");
      assert.equal(d.attempts, 1);
      assert.equal(d.events_id, null);
      const got = rx.received.filter((r) => r.headers.get("webhook-id") === d.id);
      assert.equal(got.length, 1, `${d.type} delivered once`);
      const [r] = got;
      assert.equal(r.body, d.text, "the body is the outbox text, byte for byte");
      assert.match(r.headers.get("webhook-signature")!, /^v1,[A-Za-z0-9+/]+=*$/);
      assert.throws(() => verifyWebhook("whsec_" + btoa("another secret, 24 bytes"), r.body, r.headers));
      const event = verifyWebhook(w.secret, r.body, r.headers) as Record<string, unknown>;
      assert.deepEqual(Object.keys(event), ["type", "id", "created_at", "data"]);
      assert.equal(event.id, d.id);
      assert.equal(event.created_at, d.created_at.toISOString());
      return { type: d.type as string, data: event.data as Record<string, unknown>, body: r.body };
    });
  }

  // The reward events as get_reward_events lists them now, by id.
  async function listed(w: { channelId: string; receiving: { key: string } }) {
    const reply = await act(env, w.receiving.key, "get_reward_events", { channel_id: w.channelId });
    assert.equal(reply.status, 200);
    return new Map((reply.body.reward_events as { id: string; status: string }[]).map((r) => [r.id, r]));
  }

  try {
    await t.step("purchase.created and refund.created carry the actions' answers, signed", async () => {
      const w = await moneyWorld(env, `${rx.base}/ok`);
      const seed = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        product_id: w.productId,
        purchase_amount: "2852199.999999999999",
        date: "2025-04-01T00:00:00.000Z",
        description: "Annual subscription",
      });
      const named = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        purchase_amount: 300,
        product_name: "Pro plan",
        trigger_ids: [w.fixedId],
        external_id: "order-77",
      });
      const external = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        product_id: w.productId,
        purchase_amount: 40,
        external_id: "order-78",
      });
      const custom = await act(env, w.receiving.key, "create_purchase_custom", {
        lead_id: w.leadId,
        product_name: "Custom",
        product_description: "One-off",
        purchase_amount: 50,
      });
      const refund = await act(env, w.receiving.key, "refund_purchase", {
        purchase_id: (seed.body.purchase as { id: string }).id,
        amount: "1000.5",
        reason: "partial",
        external_id: "re_77",
      });
      for (const reply of [seed, named, external, custom, refund]) assert.equal(reply.status, 200, reply.text);
      assert.equal((named.body.purchase as { external_id?: string }).external_id, "order-77");
      assert.equal((refund.body.refund as { external_id?: string }).external_id, "re_77");
      assert.equal((refund.body.reward_events as unknown[]).length, 1);

      const got = await delivered(w);
      assert.deepEqual(got.map((g) => g.type).sort(), [
        "purchase.created",
        "purchase.created",
        "purchase.created",
        "purchase.created",
        "refund.created",
      ]);
      const purchases = got.filter((g) => g.type === "purchase.created");
      for (const reply of [seed, named, external, custom]) {
        const id = (reply.body.purchase as { id: string }).id;
        const event = purchases.find((g) => (g.data.purchase as { id: string }).id === id)!;
        assert.deepEqual(event.data, reply.body);
        // Keys (the purchase's, each reward event's) in the order of the action's answer.
        assert.deepEqual(keySequence(event.body), ["type", "id", "created_at", "data", ...keySequence(reply.text)]);
      }
      // Money keeps its digits (the exact JSON number of the answer).
      assert.ok(purchases.some((g) => /"purchase_amount" ?: ?2852199\.999999999999[,}]/.test(g.body)));
      const refunded = got.find((g) => g.type === "refund.created")!;
      assert.deepEqual(refunded.data, refund.body);
      assert.deepEqual(keySequence(refunded.body), ["type", "id", "created_at", "data", ...keySequence(refund.text)]);
    });

    await t.step("import_purchases announces each row it records, and only those", async () => {
      const w = await moneyWorld(env, `${rx.base}/ok`);
      const imported = await act(env, w.receiving.key, "import_purchases", {
        channel_id: w.channelId,
        purchases: [
          { lead_id: w.leadId, external_id: "imp-1", purchase_amount: "250", trigger_ids: [w.fixedId] },
          { lead_id: w.leadId, external_id: "imp-2", purchase_amount: "-1" },
          { lead_id: w.leadId, external_id: "imp-1", purchase_amount: "250" },
          { lead_id: w.leadId, external_id: "imp-3", purchase_amount: "75.5" },
        ],
      });
      assert.equal(imported.status, 200, imported.text);
      const results = imported.body.results as { status: string; purchase_id?: string }[];
      assert.deepEqual(results.map((r) => r.status), ["created", "error", "duplicate", "created"]);
      const again = await act(env, w.receiving.key, "import_purchases", {
        channel_id: w.channelId,
        purchases: [{ lead_id: w.leadId, external_id: "imp-3", purchase_amount: "75.5" }],
      });
      assert.deepEqual((again.body.results as { status: string }[]).map((r) => r.status), ["duplicate"]);
      const got = await delivered(w);
      assert.deepEqual(got.map((g) => g.type), ["purchase.created", "purchase.created"]);
      const announced = got.map((g) => g.data.purchase as { id: string; external_id: string; purchase_amount: number });
      assert.deepEqual(
        announced.map((p) => [p.id, p.external_id, p.purchase_amount]).sort(),
        [[results[0].purchase_id, "imp-1", 250], [results[3].purchase_id, "imp-3", 75.5]].sort(),
      );
    });

    await t.step("reward_event.updated for approve, reject and paid; payout.created, paid, cancelled", async () => {
      const w = await moneyWorld(env, `${rx.base}/ok`);
      const purchase = async () => {
        const reply = await act(env, w.receiving.key, "create_purchase", {
          lead_id: w.leadId,
          purchase_amount: 1000,
          trigger_ids: [w.fixedId],
        });
        return (reply.body.reward_events as { id: string }[])[0].id;
      };
      const [a, b, c] = [await purchase(), await purchase(), await purchase()];
      await delivered(w);
      const before = (await outbox(sql, w.channelId)).length;

      const approved = await act(env, w.receiving.key, "approve_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [a, b],
      });
      const rejected = await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [c],
        reason: "fraud",
      });
      assert.deepEqual([approved.status, rejected.status], [200, 200]);
      let got = (await delivered(w)).slice(before);
      const decided = await listed(w);
      assert.deepEqual(got.map((g) => g.type), Array(3).fill("reward_event.updated"));
      const byId = new Map(got.map((g) => [(g.data.reward_event as { id: string }).id, g]));
      assert.deepEqual([...byId.keys()].sort(), [a, b, c].sort());
      for (const id of [a, b, c]) {
        assert.deepEqual(byId.get(id)!.data, { reward_event: decided.get(id) });
        assert.deepEqual(Object.keys(byId.get(id)!.data.reward_event as object), Object.keys(decided.get(id)!));
      }
      assert.deepEqual([a, b, c].map((id) => decided.get(id)!.status), [
        "approved",
        "approved",
        "rejected",
      ]);
      // The answers themselves carry the same objects.
      assert.deepEqual(approved.body.reward_events, [decided.get(a), decided.get(b)]);
      assert.deepEqual(rejected.body.reward_events, [decided.get(c)]);

      const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.equal(payout.status, 200, payout.text);
      const payoutId = (payout.body.payout as { id: string }).id;
      got = (await delivered(w)).slice(before + 3);
      assert.deepEqual(got.map((g) => [g.type, g.data]), [["payout.created", payout.body]]);
      assert.deepEqual(keySequence(got[0].body), ["type", "id", "created_at", "data", ...keySequence(payout.text)]);

      const paid = await act(env, w.receiving.key, "mark_payout_paid", { payout_id: payoutId, reference: "TR-1" });
      assert.equal(paid.status, 200, paid.text);
      got = (await delivered(w)).slice(before + 4);
      const afterPaid = await listed(w);
      assert.deepEqual(got.filter((g) => g.type === "payout.paid").map((g) => g.data), [paid.body]);
      const paidEvents = got.filter((g) => g.type === "reward_event.updated").map((g) =>
        g.data.reward_event as {
          id: string;
          status: string;
        }
      );
      assert.deepEqual(paidEvents.map((r) => r.id).sort(), [a, b].sort());
      for (const r of paidEvents) {
        assert.equal(r.status, "paid");
        assert.deepEqual(r, afterPaid.get(r.id));
      }
      assert.equal(got.length, 3);

      const d = await purchase();
      await act(env, w.receiving.key, "approve_rewards", { channel_id: w.channelId, reward_event_ids: [d] });
      const second = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      const cancelled = await act(env, w.receiving.key, "cancel_payout", {
        payout_id: (second.body.payout as { id: string }).id,
      });
      assert.equal(cancelled.status, 200, cancelled.text);
      got = (await delivered(w)).slice(before + 7);
      // One transaction each, so the outbox holds them in the order of the calls.
      assert.deepEqual(got.map((g) => g.type), [
        "purchase.created",
        "reward_event.updated",
        "payout.created",
        "payout.cancelled",
      ]);
      assert.deepEqual(got[2].data, second.body);
      assert.deepEqual(got[3].data, cancelled.body);
    });

    await t.step("a hold period's end is announced once, by the sweep", async () => {
      const w = await moneyWorld(env, `${rx.base}/ok`);
      const first = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 1000 });
      const early = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        purchase_amount: 10,
        trigger_ids: [w.fixedId],
      });
      const refund = await act(env, w.receiving.key, "refund_purchase", {
        purchase_id: (first.body.purchase as { id: string }).id,
        amount: 100,
      });
      const earlyId = (early.body.reward_events as { id: string }[])[0].id;
      await act(env, w.receiving.key, "approve_rewards", { channel_id: w.channelId, reward_event_ids: [earlyId] });
      const statuses = (first.body.reward_events as { status: string }[]).map((r) => r.status);
      assert.deepEqual(statuses, ["pending", "pending"]);
      const settled = (await delivered(w)).length;
      // Still within the hold period: a sweep announces nothing.
      await sweeper.sweep();
      assert.equal((await outbox(sql, w.channelId)).length, settled);

      // The hold period ends (hold_days 0: every reward is due now), as it does with time.
      await ops.updateChannel(sql, { id: w.channelId, holdDays: 0 });
      const [one, two] = [sweeperFor(), sweeperFor()];
      const announced = await Promise.all([one.sweep(), two.sweep()]);
      assert.ok(announced.every((r) => r.errors === 0));
      const got = (await delivered(w)).slice(settled);
      const now = await listed(w);
      const expected = [
        ...(first.body.reward_events as { id: string }[]).map((r) => r.id),
        ...(refund.body.reward_events as { id: string }[]).map((r) => r.id),
      ];
      assert.deepEqual(got.map((g) => g.type), Array(3).fill("reward_event.updated"));
      assert.deepEqual(got.map((g) => (g.data.reward_event as { id: string }).id).sort(), expected.sort());
      for (const g of got) {
        const r = g.data.reward_event as { id: string; status: string };
        assert.equal(r.status, "approved");
        assert.deepEqual(r, now.get(r.id));
      }
      // The explicitly approved reward was announced at its approval, not again.
      const [count] = await sql`select count(*)::int as n from public.webhook_deliveries
        where channels_id = ${w.channelId} and type = 'reward_event.updated'
          and payload::jsonb -> 'data' -> 'reward_event' ->> 'id' = ${earlyId}`;
      assert.equal(count.n, 1);
      // A second sweep announces nothing more.
      await sweeper.sweep();
      assert.equal((await outbox(sql, w.channelId)).length, settled + 3);
    });

    await t.step("nothing is queued for a channel without webhook_money", async () => {
      for (const url of [null, "cleared"]) {
        const w = await moneyWorld(env, url === null ? null : `${rx.base}/ok`);
        if (url === "cleared") await ops.updateChannel(sql, { id: w.channelId, webhookMoney: "" });
        const bought = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 100 });
        const ids = (bought.body.reward_events as { id: string }[]).map((r) => r.id);
        await act(env, w.receiving.key, "create_purchase_custom", { lead_id: w.leadId, product_name: "x" });
        await act(env, w.receiving.key, "refund_purchase", {
          purchase_id: (bought.body.purchase as { id: string }).id,
          amount: 10,
        });
        await act(env, w.receiving.key, "approve_rewards", { channel_id: w.channelId, reward_event_ids: [ids[0]] });
        await act(env, w.receiving.key, "reject_rewards", { channel_id: w.channelId, reward_event_ids: [ids[1]] });
        const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
        assert.equal(payout.status, 200, payout.text);
        await act(env, w.receiving.key, "mark_payout_paid", { payout_id: (payout.body.payout as { id: string }).id });
        await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 100 });
        await ops.updateChannel(sql, { id: w.channelId, holdDays: 0 });
        await sweeper.sweep();
        assert.deepEqual([...await outbox(sql, w.channelId)], [], String(url));
      }
    });

    await t.step("a failing or hanging receiver changes neither the answer nor its timing", async () => {
      for (const path of ["/fail", "/hang"]) {
        const w = await moneyWorld(env, `${rx.base}${path}`);
        const slowSweeper = sweeperFor({ timeoutMs: 300 });
        const order: string[] = [];
        const background: Promise<unknown>[] = [];
        const handler = createHandler({
          db: env.db,
          onWebhooksQueued: () => background.push(slowSweeper.sweep().then(() => order.push("swept"))),
        });
        const res = await handler(
          new Request("http://127.0.0.1/functions/v1/openapi-operations", {
            method: "POST",
            headers: { "X-Api-Key": w.receiving.key },
            body: JSON.stringify({ action: "create_purchase", lead_id: w.leadId, purchase_amount: 100 }),
          }),
        );
        const body = await res.json();
        order.push("answered");
        assert.equal(res.status, 200);
        await Promise.all(background);
        assert.deepEqual(order, ["answered", "swept"]);
        // The answer is what was written: the purchase and its two rewards.
        const [row] = await sql`select id, purchase_amount::text as amount from public.purchases
          where id = ${body.purchase.id}`;
        assert.deepEqual([row.amount, body.purchase.purchase_amount], ["100", 100]);
        assert.deepEqual(body.reward_events.map((r: { amount: number }) => r.amount).sort(), [10, 100]);
        const [d] = await outbox(sql, w.channelId);
        assert.deepEqual([d.type, d.status, d.attempts], ["purchase.created", "pending", 1]);
        assert.equal(d.last_error, path === "/fail" ? "HTTP 500" : "timeout after 300 ms");
        assert.deepEqual(JSON.parse(d.text).data, body);
      }
    });

    await t.step("the purchase trigger names the hooked channels, and looks them up past 50", async () => {
      const definition = async () => {
        const [row] = await sql`select coalesce((select pg_get_triggerdef(oid) from pg_trigger
          where tgrelid = 'public.purchases'::regclass and tgname = 'purchases_money_webhook'), '') as def`;
        return row.def as string;
      };
      const hooked = await moneyWorld(env, `${rx.base}/ok`);
      const plain = await moneyWorld(env, null);
      assert.ok((await definition()).includes(hooked.channelId));
      assert.ok(!(await definition()).includes(plain.channelId));
      const other = await moneyWorld(env, `${rx.base}/ok`);
      const bare = await sql`insert into public.channels (title, webhook_money)
        select 'bare ' || i, ${`${rx.base}/ok`} from generate_series(1, 50) i returning id`;
      // Past 50 channels, the trigger has no arguments and looks each purchase's channel up.
      assert.match(await definition(), /BEFORE INSERT .* EXECUTE FUNCTION internal\.note_money_purchase\(\)$/);
      await act(env, plain.receiving.key, "create_purchase", { lead_id: plain.leadId, purchase_amount: 1 });
      await act(env, other.receiving.key, "create_purchase", { lead_id: other.leadId, purchase_amount: 1 });
      assert.deepEqual((await outbox(sql, plain.channelId)).map((d) => d.type), []);
      assert.deepEqual((await outbox(sql, other.channelId)).map((d) => d.type), ["purchase.created"]);
      await sql`update public.channels set webhook_money = null where id in ${sql(bare.map((c) => c.id))}`;
      for (const w of [hooked, other]) await ops.updateChannel(sql, { id: w.channelId, webhookMoney: "" });
      const after = await definition();
      assert.ok(!after.includes(hooked.channelId) && !after.endsWith("note_money_purchase()"), after);
      await act(env, hooked.receiving.key, "create_purchase", { lead_id: hooked.leadId, purchase_amount: 1 });
      assert.deepEqual((await outbox(sql, hooked.channelId)).map((d) => d.type), []);
    });

    await t.step("a refused action queues nothing", async () => {
      const w = await moneyWorld(env, `${rx.base}/ok`);
      const reply = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        trigger_ids: [crypto.randomUUID()],
      });
      assert.equal(reply.status, 400);
      const outsider = await act(env, w.outsider.key, "create_payout", { channel_id: w.channelId });
      assert.equal(outsider.status, 403);
      assert.deepEqual([...await outbox(sql, w.channelId)], []);
    });
  } finally {
    await rx.close();
    await env.close();
  }
});
