import assert from "node:assert/strict";
import type postgres from "postgres";
import { actions } from "../supabase/functions/_shared/registry.ts";
import {
  act,
  call,
  errorBody,
  ops,
  party,
  type Reply,
  statusAndBody,
  type TestEnv,
  testEnv,
  type World,
  world,
  writtenFor,
} from "./helpers.ts";

/** A valid request of one action on a World, another request for the same key, and the tables its first run writes. */
interface ReplayFixture {
  w: World;
  request: Record<string, unknown>;
  different: Record<string, unknown>;
  writes: string[];
}

/** An unmatched Stripe sale of the world's channel (no lead matched its customer), as the Stripe route keeps one. */
async function unmatchedSale(env: TestEnv, w: World): Promise<string> {
  const [{ id: connectionId }] = await env.sql`insert into public.stripe_connections (companies_id, channels_id,
    signing_secret) values (${w.receiving.id}, ${w.channelId}, 'whsec_fixture') returning id`;
  const [{ id }] = await env.sql`insert into public.stripe_sales (connections_id, external_id, event_id, customer,
    amount, currency, date, status, reason) values (${connectionId}, 'in_fixture', 'evt_fixture', 'cus_fixture',
    49.90, 'USD', now(), 'unmatched', 'no_lead') returning id`;
  return id as string;
}

/** Each on a fresh World; the test fails for an idempotent action missing here. */
const replayFixtures: Record<string, (env: TestEnv) => Promise<ReplayFixture>> = {
  create_lead: async (env) => {
    const w = await world(env.sql);
    return {
      w,
      request: { channel_id: w.channelId, email: "replay@example.com" },
      different: { channel_id: w.channelId, email: "other@example.com" },
      writes: ["events", "leads"],
    };
  },
  update_lead: async (env) => {
    const w = await world(env.sql);
    return {
      w,
      request: { lead_id: w.leadId, notes: "first" },
      different: { lead_id: w.leadId, notes: "second" },
      writes: ["leads"],
    };
  },
  update_status: async (env) => {
    const w = await world(env.sql);
    await ops.createStatus(env.sql, { channel: w.channelId, name: "Won" });
    return {
      w,
      request: { lead_id: w.leadId, status: "Won" },
      different: { lead_id: w.leadId, status: "New" },
      writes: ["events", "leads"],
    };
  },
  update_status_id: async (env) => {
    const w = await world(env.sql);
    const won = await ops.createStatus(env.sql, { channel: w.channelId, name: "Won" });
    return {
      w,
      request: { lead_id: w.leadId, status_id: won.id },
      different: { lead_id: w.leadId, status_id: w.statusId },
      writes: ["events", "leads"],
    };
  },
  create_purchase: async (env) => {
    const w = await world(env.sql);
    await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
    return {
      w,
      request: { lead_id: w.leadId, purchase_amount: "99.95" },
      different: { lead_id: w.leadId, purchase_amount: "99.96" },
      writes: ["events", "purchases", "reward_events"],
    };
  },
  create_purchase_custom: async (env) => {
    const w = await world(env.sql);
    return {
      w,
      request: { lead_id: w.leadId, product_name: "Setup", purchase_amount: 20 },
      different: { lead_id: w.leadId, product_name: "Setup", purchase_amount: 21 },
      writes: ["events", "purchases"],
    };
  },
  import_purchases: async (env) => {
    const w = await world(env.sql);
    await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
    return {
      w,
      request: { channel_id: w.channelId, purchases: [{ lead_id: w.leadId, external_id: "o-1", purchase_amount: 5 }] },
      different: {
        channel_id: w.channelId,
        purchases: [{ lead_id: w.leadId, external_id: "o-2", purchase_amount: 5 }],
      },
      writes: ["events", "purchases", "reward_events"],
    };
  },
  connect_stripe: async (env) => {
    const w = await world(env.sql);
    return {
      w,
      request: { channel_id: w.channelId, signing_secret: "whsec_replay" },
      different: { channel_id: w.channelId, signing_secret: "whsec_other" },
      writes: ["stripe_connections"],
    };
  },
  attach_sale: async (env) => {
    const w = await world(env.sql);
    const saleId = await unmatchedSale(env, w);
    return {
      w,
      request: { unmatched_sale_id: saleId, lead_id: w.leadId },
      different: { unmatched_sale_id: saleId, lead_id: crypto.randomUUID() },
      writes: ["events", "purchases", "stripe_customers", "stripe_sales"],
    };
  },
  dismiss_sale: async (env) => {
    const w = await world(env.sql);
    const saleId = await unmatchedSale(env, w);
    return {
      w,
      request: { unmatched_sale_id: saleId, reason: "Test order" },
      different: { unmatched_sale_id: saleId, reason: "Another reason" },
      writes: ["stripe_sales"],
    };
  },
  refund_purchase: async (env) => {
    const w = await world(env.sql);
    await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
    const purchaseId = await purchase(env, w);
    return {
      w,
      request: { purchase_id: purchaseId, amount: 10 },
      different: { purchase_id: purchaseId, amount: 11 },
      writes: ["events", "refunds", "reward_events"],
    };
  },
  approve_rewards: async (env) => {
    const w = await world(env.sql);
    const [a, b] = await rewards(env, w, 2);
    return {
      w,
      request: { channel_id: w.channelId, reward_event_ids: [a] },
      different: { channel_id: w.channelId, reward_event_ids: [b] },
      writes: ["reward_events"],
    };
  },
  reject_rewards: async (env) => {
    const w = await world(env.sql);
    const [a] = await rewards(env, w, 1);
    return {
      w,
      request: { channel_id: w.channelId, reward_event_ids: [a], reason: "Cancelled" },
      different: { channel_id: w.channelId, reward_event_ids: [a], reason: "Returned" },
      writes: ["reward_events"],
    };
  },
  create_payout: async (env) => {
    const w = await world(env.sql, { holdDays: 0 });
    await rewards(env, w, 1);
    return {
      w,
      request: { channel_id: w.channelId },
      different: { channel_id: w.channelId, currency: "EUR" },
      writes: ["payouts", "reward_events"],
    };
  },
  mark_payout_paid: async (env) => {
    const w = await world(env.sql, { holdDays: 0 });
    const payoutId = await payout(env, w);
    return {
      w,
      request: { payout_id: payoutId, reference: "SEPA-1" },
      different: { payout_id: payoutId, reference: "SEPA-2" },
      writes: ["payouts"],
    };
  },
  cancel_payout: async (env) => {
    const w = await world(env.sql, { holdDays: 0 });
    const payoutId = await payout(env, w);
    return {
      w,
      request: { payout_id: payoutId },
      different: { payout_id: await payout(env, w) },
      writes: ["payouts", "reward_events"],
    };
  },
};

/** A purchase of the World's lead, by the receiving company. */
async function purchase(env: TestEnv, w: World): Promise<string> {
  const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 100 });
  assert.equal(made.status, 200, made.text);
  return (made.body.purchase as { id: string }).id;
}

/** `n` reward events of the World's channel, one per purchase, through a fixed trigger. */
async function rewards(env: TestEnv, w: World, n: number): Promise<string[]> {
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 1 });
    assert.equal(made.status, 200, made.text);
    ids.push((made.body.reward_events as { id: string }[])[0].id);
  }
  return ids;
}

/** A pending payout of one approved reward event (on a World with a hold period of 0). */
async function payout(env: TestEnv, w: World): Promise<string> {
  await rewards(env, w, 1);
  const made = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
  assert.equal(made.status, 200, made.text);
  return (made.body.payout as { id: string }).id;
}

/** Each table of public with a digest of all its rows, so any insert, update or delete shows. */
async function tableDigests(sql: postgres.Sql): Promise<Map<string, string>> {
  const tables = await sql`select relname from pg_class
    where relnamespace = 'public'::regnamespace and relkind = 'r' order by relname`;
  const rows = await sql.unsafe(
    tables.map(({ relname }) =>
      `select '${relname}' as name, count(*) || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '')
        as digest from public.${relname} t`
    ).join(" union all "),
  );
  return new Map(rows.map((r) => [r.name as string, r.digest as string]));
}

/** The tables whose rows differ between two digests, by name. */
function changedTables(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after.keys()].filter((name) => before.get(name) !== after.get(name)).sort();
}

Deno.test("Idempotency-Key", async (t) => {
  const env = testEnv();
  const { sql, handler } = env;
  const withKey = (key: string, idempotencyKey: string) => ({ key, headers: { "Idempotency-Key": idempotencyKey } });
  try {
    await t.step("a retry replays the stored status and body byte for byte and writes nothing", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
      const body = { action: "create_purchase", lead_id: w.leadId, purchase_amount: "99.95" };
      const first = await call(handler, body, withKey(w.receiving.key, "order-1"));
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers.get("idempotent-replayed"), null);
      const again = await call(handler, body, withKey(w.receiving.key, "order-1"));
      assert.equal(again.status, 200);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(again.text, first.text);
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 1 });
      const [row] = await sql`select action, status from public.idempotency_keys where key = 'order-1'
        and companies_id = ${w.receiving.id}`;
      assert.deepEqual({ ...row }, { action: "create_purchase", status: 200 });
    });

    await t.step(
      "the same request with keys in another order, other whitespace or an equal amount replays",
      async () => {
        const w = await world(sql);
        const first = await call(handler, {
          action: "create_purchase",
          lead_id: w.leadId,
          purchase_amount: 12500,
          description: "x",
        }, withKey(w.receiving.key, "order-2"));
        const raw = `{ "description" : "x",\n "purchase_amount": 12500, "lead_id":"${w.leadId.toUpperCase()}",
        "action": "create_purchase", "ignored": true }`;
        const again = await call(handler, null, { raw, ...withKey(w.receiving.key, "order-2") });
        assert.equal(again.headers.get("idempotent-replayed"), "true");
        assert.equal(again.text, first.text);
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 0 });
      },
    );

    await t.step("equal amounts, instants and trigger sets written differently are the same request", async () => {
      const w = await world(sql);
      const a = await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "1" });
      const b = await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "2" });
      const first = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        purchase_amount: 12500,
        date: "2025-04-01",
        trigger_ids: [a.id, b.id],
      }, withKey(w.receiving.key, "same-meaning"));
      const again = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        purchase_amount: "12500.00",
        date: "2025-04-01T02:00:00.000+02:00",
        trigger_ids: [b.id, a.id, a.id],
      }, withKey(w.receiving.key, "same-meaning"));
      assert.equal(first.status, 200, first.text);
      assert.deepEqual([again.status, again.headers.get("idempotent-replayed"), again.text], [200, "true", first.text]);
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 2 });
    });

    await t.step(
      "reward_event_ids in another order, or repeated, are the same request; another set is not",
      async () => {
        const w = await world(sql);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 1 });
          ids.push((made.body.reward_events as { id: string }[])[0].id);
        }
        const [a, b, c] = ids;
        for (const action of ["approve_rewards", "reject_rewards"]) {
          const key = `set-${action}`;
          const send = (reward_event_ids: string[]) =>
            call(
              handler,
              { action, channel_id: w.channelId, reward_event_ids, reason: "r" },
              withKey(w.receiving.key, key),
            );
          const first = await send([a, b]);
          assert.equal(first.status, 200, first.text);
          const rows = await sql`select id, status, rejection_reason, decided_at from public.reward_events
          where id in ${sql(ids)} order by id`;
          for (const reordered of [[b, a], [b, a, b], [a.toUpperCase(), b]]) {
            const again = await send(reordered);
            assert.deepEqual(
              [again.status, again.headers.get("idempotent-replayed"), again.text],
              [200, "true", first.text],
              `${action} ${reordered}`,
            );
          }
          for (const other of [[a], [a, b, c]]) {
            const refused = await send(other);
            assert.deepEqual(
              statusAndBody(refused),
              errorBody(refused, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
            );
          }
          assert.deepEqual(
            await sql`select id, status, rejection_reason, decided_at from public.reward_events
            where id in ${sql(ids)} order by id`,
            rows,
          );
        }
      },
    );

    await t.step("create_payout with the channel's currency written out or left out is the same request", async () => {
      const w = await world(sql, { currency: "EUR", holdDays: 0 });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
      const payoutsOf = async () =>
        (await sql`select id, currency, amount::text from public.payouts where channels_id = ${w.channelId}`).map((
          r,
        ) => ({ ...r }));
      const cases: [string, Record<string, unknown>, Record<string, unknown>[]][] = [
        ["payout-default-first", {}, [{ currency: "EUR" }, { currency: null }]],
        ["payout-explicit-first", { currency: "EUR" }, [{}, { currency: null }]],
      ];
      for (const [key, first, retries] of cases) {
        await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 1 });
        const made = await call(
          handler,
          { action: "create_payout", channel_id: w.channelId, ...first },
          withKey(w.receiving.key, key),
        );
        assert.equal(made.status, 200, made.text);
        const payouts = await payoutsOf();
        for (const retry of retries) {
          const again = await call(
            handler,
            { action: "create_payout", channel_id: w.channelId, ...retry },
            withKey(w.receiving.key, key),
          );
          assert.deepEqual(
            [again.status, again.headers.get("idempotent-replayed"), again.text],
            [200, "true", made.text],
            JSON.stringify(retry),
          );
        }
        const other = await call(
          handler,
          { action: "create_payout", channel_id: w.channelId, currency: "USD" },
          withKey(w.receiving.key, key),
        );
        assert.deepEqual(
          statusAndBody(other),
          errorBody(other, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
        );
        assert.deepEqual(await payoutsOf(), payouts);
      }
      assert.equal((await payoutsOf()).length, 2);
    });

    await t.step(
      "a refund's amount and a purchase's date, written out as the first answer shows them, replay",
      async () => {
        const w = await world(sql);
        const refused = (reply: Reply) =>
          assert.deepEqual(
            statusAndBody(reply),
            errorBody(reply, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
          );
        const replayed = (reply: Reply, first: Reply, label: string) =>
          assert.deepEqual([reply.status, reply.headers.get("idempotent-replayed"), reply.text], [
            200,
            "true",
            first.text,
          ], label);
        const purchaseWith = (key: string, fields: Record<string, unknown>) =>
          call(handler, { action: "create_purchase", lead_id: w.leadId, ...fields }, withKey(w.receiving.key, key));
        const refundWith = (key: string, fields: Record<string, unknown>) =>
          call(handler, { action: "refund_purchase", ...fields }, withKey(w.receiving.key, key));

        const bought = await purchaseWith("p-date", { purchase_amount: "100.50" });
        assert.equal(bought.status, 200, bought.text);
        const purchase = bought.body.purchase as { id: string; date: string };
        for (const date of [purchase.date, purchase.date.replace("Z", "+00:00")]) {
          replayed(await purchaseWith("p-date", { purchase_amount: 100.5, date }), bought, date);
        }
        refused(await purchaseWith("p-date", { purchase_amount: "100.50", date: "2025-04-01" }));

        const refund = await refundWith("r-all", { purchase_id: purchase.id });
        assert.equal(refund.status, 200, refund.text);
        for (const amount of ["100.5", 100.5, "100.500"]) {
          replayed(await refundWith("r-all", { purchase_id: purchase.id, amount }), refund, String(amount));
        }
        refused(await refundWith("r-all", { purchase_id: purchase.id, amount: "100" }));
        refused(await refundWith("r-all", { purchase_id: purchase.id, reason: "x" }));
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 0 });

        // The other way round: the first request wrote the amount out, the retry leaves it to the default.
        const second = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 40 });
        const secondId = (second.body.purchase as { id: string }).id;
        const explicit = await refundWith("r-explicit", { purchase_id: secondId, amount: 40 });
        assert.equal(explicit.status, 200, explicit.text);
        replayed(await refundWith("r-explicit", { purchase_id: secondId }), explicit, "default");
        const refunds = await sql`select purchases_id, amount::text from public.refunds
        where purchases_id in ${sql([purchase.id, secondId])} order by refunds.amount`;
        assert.deepEqual(refunds.map((r) => ({ ...r })), [
          { purchases_id: secondId, amount: "40" },
          { purchases_id: purchase.id, amount: "100.5" },
        ]);
      },
    );

    await t.step("the same key with a different request answers 422 and writes nothing", async () => {
      const w = await world(sql);
      await call(
        handler,
        { action: "create_purchase", lead_id: w.leadId, purchase_amount: 10 },
        withKey(w.receiving.key, "k"),
      );
      for (
        const body of [
          { action: "create_purchase", lead_id: w.leadId, purchase_amount: 11 },
          { action: "create_purchase_custom", lead_id: w.leadId, purchase_amount: 10 },
        ]
      ) {
        const reply = await call(handler, body, withKey(w.receiving.key, "k"));
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
        );
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 0 });
    });

    await t.step("a failed first attempt leaves nothing, so its retry runs once the cause is fixed", async () => {
      const w = await world(sql, { purchaseWriters: "any" });
      const newcomer = await party(sql, "Newcomer");
      const body = { action: "create_purchase", lead_id: w.leadId, purchase_amount: 5 };
      const refused = await call(handler, body, withKey(newcomer.key, "retry-me"));
      assert.equal(refused.status, 403);
      const [claims] =
        await sql`select count(*)::int as n from public.idempotency_keys where companies_id = ${newcomer.id}`;
      assert.equal(claims.n, 0);
      await sql`update public.channels set partner = ${newcomer.id} where id = ${w.channelId}`;
      const retried = await call(handler, body, withKey(newcomer.key, "retry-me"));
      assert.equal(retried.status, 200);
      assert.equal(retried.headers.get("idempotent-replayed"), null);
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 0 });
    });

    await t.step("100 concurrent requests with one key write one purchase and all answer it", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "3" });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "5" });
      const body = { action: "create_purchase", lead_id: w.leadId, purchase_amount: "200" };
      const replies = await Promise.all(
        Array.from({ length: 100 }, () => call(handler, body, withKey(w.receiving.key, "burst"))),
      );
      assert.deepEqual(replies.map((r) => r.status), Array(100).fill(200));
      assert.equal(new Set(replies.map((r) => (r.body.purchase as { id: string }).id)).size, 1);
      assert.equal(new Set(replies.map((r) => r.text)).size, 1);
      assert.equal(replies.filter((r) => r.headers.get("idempotent-replayed") === "true").length, 99);
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 2 });
    });

    await t.step("keys are scoped to the company: two companies may use the same key", async () => {
      const w = await world(sql, { purchaseWriters: "any" });
      for (const company of [w.receiving, w.referring]) {
        const reply = await call(
          handler,
          { action: "create_purchase", lead_id: w.leadId },
          withKey(company.key, "shared"),
        );
        assert.equal(reply.status, 200);
        assert.equal(reply.headers.get("idempotent-replayed"), null);
      }
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 2);
    });

    await t.step("keys expire after the retention window and are purged", async () => {
      const w = await world(sql);
      const body = { action: "create_purchase", lead_id: w.leadId };
      await call(handler, body, withKey(w.receiving.key, "old"));
      await call(handler, body, withKey(w.receiving.key, "fresh"));
      await sql`update public.idempotency_keys set created_at = now() - interval '24 hours 1 minute'
        where companies_id = ${w.receiving.id} and key = 'old'`;
      const reused = await call(handler, body, withKey(w.receiving.key, "old"));
      assert.equal(reused.headers.get("idempotent-replayed"), null, "an expired key runs again");
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 3);

      await sql`update public.idempotency_keys set created_at = now() - interval '25 hours'
        where companies_id = ${w.receiving.id} and key = 'old'`;
      const [purged] = await sql`select internal.purge_idempotency_keys() as n`;
      assert.ok(purged.n >= 1);
      const keys =
        await sql`select key from public.idempotency_keys where companies_id = ${w.receiving.id} order by key`;
      assert.deepEqual(keys.map((k) => k.key), ["fresh"]);
    });

    await t.step("an invalid Idempotency-Key answers 400, after the API key check", async () => {
      const w = await world(sql);
      for (const value of ["x".repeat(256), "caf\u00e9", ""]) {
        const reply = await call(
          handler,
          { action: "create_purchase", lead_id: w.leadId },
          withKey(w.receiving.key, value),
        );
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Invalid Idempotency-Key", "invalid_request"));
      }
      const badKey = await call(handler, { action: "create_purchase", lead_id: w.leadId }, withKey("sk_nope", ""));
      assert.equal(badKey.status, 401);
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 0);
      const longest = await call(
        handler,
        { action: "create_purchase", lead_id: w.leadId },
        withKey(w.receiving.key, "k".repeat(255)),
      );
      assert.equal(longest.status, 200);
    });

    await t.step("every idempotent action of the registry replays once and refuses another request", async () => {
      const idempotent = Object.keys(actions).filter((name) => actions[name].idempotent).sort();
      assert.deepEqual(Object.keys(replayFixtures).sort(), idempotent, "one fixture per idempotent action");
      for (const action of idempotent) {
        const { w, request, different, writes } = await replayFixtures[action](env);
        const send = (fields: Record<string, unknown>) =>
          call(handler, { action, ...fields }, withKey(w.receiving.key, `replay-${action}`));
        const before = await tableDigests(sql);
        const first = await send(request);
        assert.equal(first.status, 200, `${action}: ${first.text}`);
        assert.equal(first.headers.get("idempotent-replayed"), null, action);
        const afterFirst = await tableDigests(sql);
        assert.deepEqual(changedTables(before, afterFirst), [...writes, "idempotency_keys"].sort(), action);

        const again = await send(request);
        assert.deepEqual(
          [again.status, again.headers.get("idempotent-replayed"), again.text],
          [first.status, "true", first.text],
          action,
        );
        assert.deepEqual(changedTables(afterFirst, await tableDigests(sql)), [], `${action}: the replay wrote`);

        const refused = await send(different);
        assert.deepEqual(
          statusAndBody(refused),
          errorBody(refused, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
          action,
        );
        assert.deepEqual(changedTables(afterFirst, await tableDigests(sql)), [], `${action}: the refusal wrote`);
      }

      const w = await world(sql);
      const read = await call(handler, { action: "get_leads", channel_id: w.channelId }, withKey(w.receiving.key, "r"));
      assert.equal(read.status, 200);
      assert.equal(read.headers.get("idempotent-replayed"), null);
      const [readKeys] = await sql`select count(*)::int as n from public.idempotency_keys
        where companies_id = ${w.receiving.id} and key = 'r'`;
      assert.equal(readKeys.n, 0);
    });
  } finally {
    await env.close();
  }
});
