import assert from "node:assert/strict";
import type postgres from "postgres";
import { act, errorBody, ops, statusAndBody, type TestEnv, testEnv, type World, world } from "./helpers.ts";

const REWARD_EVENT_KEYS = [
  "id",
  "reward_triggers_id",
  "amount",
  "currency",
  "reward_type",
  "rate",
  "base_amount",
  "beneficiary_company_id",
  "created_at",
  "channels_id",
  "leads_id",
  "purchases_id",
  "refunds_id",
  "reverses_reward_events_id",
  "status",
  "rejection_reason",
  "payouts_id",
];

async function purchaseWithRewards(env: TestEnv, w: World, amount: string, rate = "12.5", fixed = "10") {
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: rate });
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: fixed });
  const reply = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: amount });
  assert.equal(reply.status, 200, reply.text);
  return (reply.body.purchase as { id: string }).id;
}

async function rewardSum(sql: postgres.Sql, purchaseId: string): Promise<string> {
  const [row] = await sql`select coalesce(sum(amount), 0)::text as total from public.reward_events
    where purchases_id = ${purchaseId}`;
  return row.total;
}

async function refundRows(sql: postgres.Sql, purchaseId: string) {
  const [row] = await sql`
    select (select count(*)::int from public.refunds where purchases_id = ${purchaseId}) as refunds,
      (select count(*)::int from public.reward_events where purchases_id = ${purchaseId} and amount < 0) as reversals,
      (select count(*)::int from public.events where purchases_id = ${purchaseId} and category = 'refund') as events`;
  return { ...row };
}

Deno.test("refund_purchase", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step(
      "a partial refund reverses percentage rewards pro rata; the full refund reverses the rest",
      async () => {
        const w = await world(sql);
        const purchaseId = await purchaseWithRewards(env, w, "100.00");
        const originals =
          await sql`select id, reward_type from public.reward_events where purchases_id = ${purchaseId}`;
        const original = (type: string) => originals.find((r) => r.reward_type === type)!.id;

        const partial = await act(env, w.receiving.key, "refund_purchase", {
          purchase_id: purchaseId,
          amount: "40",
          reason: "Downgrade",
        });
        assert.equal(partial.status, 200, partial.text);
        assert.deepEqual(Object.keys(partial.body), ["refund", "reward_events"]);
        const refund = partial.body.refund as Record<string, unknown>;
        const [refundRow] = await sql`select * from public.refunds where id = ${refund.id as string}`;
        assert.deepEqual(refund, {
          id: refundRow.id,
          created_at: refundRow.created_at.toISOString(),
          purchases_id: purchaseId,
          amount: 40,
          reason: "Downgrade",
        });
        assert.equal(refundRow.companies_id, w.receiving.id);
        const reversals = partial.body.reward_events as Record<string, unknown>[];
        assert.deepEqual(reversals.map((r) => Object.keys(r)), [REWARD_EVENT_KEYS]);
        assert.deepEqual(
          reversals.map((
            r,
          ) => [r.reward_type, r.amount, r.rate, r.base_amount, r.refunds_id, r.reverses_reward_events_id]),
          [["percentage", -5, 12.5, 40, refund.id, original("percentage")]],
        );
        assert.equal(await rewardSum(sql, purchaseId), "17.50");

        const full = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
        assert.equal(full.status, 200, full.text);
        assert.equal((full.body.refund as Record<string, unknown>).amount, 60);
        assert.deepEqual(
          (full.body.reward_events as Record<string, unknown>[]).map((
            r,
          ) => [r.reward_type, r.amount, r.reverses_reward_events_id]),
          [["fixed", -10, original("fixed")], ["percentage", -7.5, original("percentage")]],
        );
        assert.equal(await rewardSum(sql, purchaseId), "0.00");
        assert.deepEqual(await refundRows(sql, purchaseId), { refunds: 2, reversals: 3, events: 2 });
      },
    );

    await t.step("many small refunds reverse to exactly zero with each currency's rounding", async () => {
      // [currency, purchase amount, rate, refund step]
      const cases: [string, string, string, string][] = [
        ["USD", "0.35", "10", "0.05"],
        ["USD", "99.99", "7.5", "11.11"],
        ["JPY", "999", "3.3", "111"],
        ["KWD", "10.005", "2.5", "1.0005"],
      ];
      for (const [currency, amount, rate, step] of cases) {
        const w = await world(sql, { currency });
        const purchaseId = await purchaseWithRewards(env, w, amount, rate, "1");
        for (let i = 0; i < 20; i++) {
          const reply = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId, amount: step });
          if (reply.status !== 200) break;
        }
        const last = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
        assert.ok([200, 400].includes(last.status));
        const [refunded] =
          await sql`select sum(amount)::text as total from public.refunds where purchases_id = ${purchaseId}`;
        assert.equal(Number(refunded.total), Number(amount), `${currency}: fully refunded`);
        assert.equal(
          Number(await rewardSum(sql, purchaseId)),
          0,
          `${currency} ${amount} at ${rate}% in steps of ${step}`,
        );
      }
    });

    await t.step("refunding more than remains answers 400 and writes nothing", async () => {
      const w = await world(sql);
      const purchaseId = await purchaseWithRewards(env, w, "50");
      const over = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId, amount: "50.01" });
      assert.deepEqual(
        statusAndBody(over),
        errorBody(over, 400, "Refund exceeds refundable amount", "refund_exceeds_refundable"),
      );
      assert.deepEqual(await refundRows(sql, purchaseId), { refunds: 0, reversals: 0, events: 0 });
      assert.equal((await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId })).status, 200);
      const again = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
      assert.deepEqual(
        statusAndBody(again),
        errorBody(again, 400, "Refund exceeds refundable amount", "refund_exceeds_refundable"),
      );
      assert.deepEqual(await refundRows(sql, purchaseId), { refunds: 1, reversals: 2, events: 1 });
    });

    await t.step("a purchase without an amount can be refunded once, which reverses its fixed rewards", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "15" });
      const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId });
      const purchaseId = (made.body.purchase as { id: string }).id;
      const refund = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
      assert.equal(refund.status, 200);
      assert.equal((refund.body.refund as Record<string, unknown>).amount, 0);
      assert.equal(await rewardSum(sql, purchaseId), "0.00");
      const again = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
      assert.equal(again.status, 400);
    });

    await t.step("20 concurrent refunds never refund more than the purchase", async () => {
      const w = await world(sql);
      const purchaseId = await purchaseWithRewards(env, w, "100");
      const replies = await Promise.all(
        Array.from(
          { length: 20 },
          () => act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId, amount: "7" }),
        ),
      );
      const ok = replies.filter((r) => r.status === 200).length;
      assert.equal(ok, 14);
      assert.ok(replies.every((r) => r.status === 200 || r.body.error === "Refund exceeds refundable amount"));
      const [refunded] =
        await sql`select sum(amount)::text as total from public.refunds where purchases_id = ${purchaseId}`;
      assert.equal(refunded.total, "98");
      const rest = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
      assert.equal((rest.body.refund as Record<string, unknown>).amount, 2);
      assert.equal(Number(await rewardSum(sql, purchaseId)), 0);
    });

    await t.step("field errors, and 403 for a purchase the company cannot see", async () => {
      const w = await world(sql);
      const purchaseId = await purchaseWithRewards(env, w, "10");
      const cases: [Record<string, unknown>, string][] = [
        [{}, "purchase_id required"],
        [{ purchase_id: "x" }, "purchase_id must be a UUID"],
        [{ purchase_id: purchaseId, amount: -1 }, "amount must be a non-negative number"],
        [{ purchase_id: purchaseId, amount: "0.00" }, "amount must be greater than 0"],
        [{ purchase_id: purchaseId, reason: 3 }, "reason must be a string"],
      ];
      for (const [fields, message] of cases) {
        const reply = await act(env, w.receiving.key, "refund_purchase", fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
      for (const [key, id] of [[w.outsider.key, purchaseId], [w.receiving.key, crypto.randomUUID()]]) {
        const reply = await act(env, key, "refund_purchase", { purchase_id: id });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 403, "Purchase not accessible", "purchase_not_accessible"),
        );
      }
      assert.deepEqual(await refundRows(sql, purchaseId), { refunds: 0, reversals: 0, events: 0 });
      for (const party of [w.creator, w.referring, w.partner]) {
        const reply = await act(env, party.key, "refund_purchase", { purchase_id: purchaseId, amount: 1 });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(
            reply,
            403,
            "Only the receiving company can record purchases on this channel",
            "purchase_not_permitted",
          ),
        );
      }
      assert.deepEqual(await refundRows(sql, purchaseId), { refunds: 0, reversals: 0, events: 0 });
      await sql`update public.channels set purchase_writers = 'any' where id = ${w.channelId}`;
      const byPartner = await act(env, w.partner.key, "refund_purchase", { purchase_id: purchaseId, amount: 1 });
      assert.equal(byPartner.status, 200, "with purchase_writers any, any participant of the channel may refund");
    });
  } finally {
    await env.close();
  }
});
