// docs/guide.md, "Money out": the reward lifecycle (status derived at read time), approvals, balances, payouts
import type postgres from "postgres";
// and the public intake guard.
import assert from "node:assert/strict";
import { act, call, errorBody, ops, statusAndBody, type TestEnv, testEnv, type World, world } from "./helpers.ts";
import { payoutsCsv } from "../dev/admin_ops.ts";

type Reward = {
  id: string;
  status: string;
  amount: number;
  payouts_id: string | null;
  rejection_reason: string | null;
};
type Payout = { id: string; amount: number; reward_events_count: number; status: string };

// A channel with a fixed purchase trigger of `amount` (USD) and hold_days as given.
async function channel(env: TestEnv, amount = "10", holdDays = 30): Promise<World> {
  const w = await world(env.sql, { holdDays });
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount });
  return w;
}

// Records a purchase as the receiving company; returns its reward event id.
async function reward(env: TestEnv, w: World, amount = 100): Promise<{ purchaseId: string; rewardId: string }> {
  const reply = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: amount });
  assert.equal(reply.status, 200, reply.text);
  const rewards = reply.body.reward_events as Reward[];
  return { purchaseId: (reply.body.purchase as { id: string }).id, rewardId: rewards[0].id };
}

async function rewards(env: TestEnv, w: World): Promise<Map<string, Reward>> {
  const reply = await act(env, w.receiving.key, "get_reward_events", { channel_id: w.channelId });
  assert.equal(reply.status, 200, reply.text);
  return new Map((reply.body.reward_events as Reward[]).map((r) => [r.id, r]));
}

async function statusOf(env: TestEnv, w: World, id: string): Promise<string> {
  return (await rewards(env, w)).get(id)!.status;
}

async function balances(env: TestEnv, w: World) {
  const reply = await act(env, w.referring.key, "get_balances", { channel_id: w.channelId });
  assert.equal(reply.status, 200, reply.text);
  return reply.body.balances as Record<string, unknown>[];
}

/**
 * Returns once a create_payout call waits on a lock (pg_stat_activity); fails if the call
 * answered first, which it can only do without waiting, since the lock is still held.
 */
async function waitsOnLock(sql: postgres.Sql, call: Promise<unknown>, what: string) {
  let answered = false;
  call.then(() => answered = true, () => answered = true);
  for (;;) {
    const [row] = await sql`select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and query like '%create_payout%'`;
    if (row.n > 0) return;
    assert.ok(!answered, `create_payout never waited for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("reward lifecycle, approvals, balances and payouts", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("status is derived at read time: pending through the hold period, approved after it", async () => {
      const w = await channel(env);
      const { rewardId } = await reward(env, w);
      assert.equal(await statusOf(env, w, rewardId), "pending");
      // The reward is 31 days old: past the 30-day hold at the next read, with no job run.
      await sql`update public.reward_events set created_at = now() - interval '31 days' where id = ${rewardId}`;
      assert.equal(await statusOf(env, w, rewardId), "approved");
      // A longer hold applies at once to rewards whose status comes from the hold period.
      await sql`update public.channels set hold_days = 45 where id = ${w.channelId}`;
      assert.equal(await statusOf(env, w, rewardId), "pending");
      await sql`update public.channels set hold_days = 0 where id = ${w.channelId}`;
      assert.equal(await statusOf(env, w, rewardId), "approved");
      // Purchase responses carry the status too.
      const reply = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId });
      assert.equal((reply.body.reward_events as Reward[])[0].status, "approved");
    });

    await t.step("rewards from the beneficiary's own actions and from public intake need review", async () => {
      const w = await world(sql, { purchaseWriters: "any", holdDays: 0 });
      await sql`update public.channels set no_auth_api = true where id = ${w.channelId}`;
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      for (const [on, statusId] of [["purchase", undefined], ["new_lead", undefined], ["status_change", won.id]]) {
        await ops.createTrigger(sql, {
          channel: w.channelId,
          on: on as string,
          reward: "fixed",
          amount: "7",
          statusId: statusId as string | undefined,
        });
      }
      const own = await act(env, w.referring.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 10 });
      assert.deepEqual((own.body.reward_events as Reward[]).map((r) => r.status), ["review"]);
      const lead = await act(env, w.referring.key, "create_lead", { channel_id: w.channelId });
      const leadId = (lead.body.lead as { id: string }).id;
      await act(env, w.referring.key, "update_status", { lead_id: leadId, status: "Won" });
      const external = await act(env, undefined, "lead_external", { channel_id: w.channelId });
      assert.equal(external.status, 200, external.text);
      // Another party's purchase on the same channel is approved at once (hold_days 0).
      const merchant = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 10 });
      const all = [...(await rewards(env, w)).values()];
      assert.deepEqual(all.map((r) => r.status).sort(), ["approved", "review", "review", "review", "review"]);
      assert.equal(
        all.find((r) => r.id === (merchant.body.reward_events as Reward[])[0].id)!.status,
        "approved",
      );
      // Time never approves a review.
      await sql`update public.reward_events set created_at = now() - interval '1 year' where channels_id = ${w.channelId}`;
      assert.equal([...(await rewards(env, w)).values()].filter((r) => r.status === "review").length, 4);
    });

    await t.step("approve and reject: each transition, and every refused one listed as skipped", async () => {
      const w = await channel(env);
      const a = (await reward(env, w)).rewardId;
      const b = (await reward(env, w)).rewardId;
      const c = (await reward(env, w)).rewardId;
      const approved = await act(env, w.receiving.key, "approve_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [a, b],
      });
      assert.equal(approved.status, 200, approved.text);
      assert.deepEqual(
        (approved.body.reward_events as Reward[]).map((r) => [r.id, r.status]).sort(),
        [
          [a, "approved"],
          [b, "approved"],
        ].sort(),
      );
      assert.deepEqual(approved.body.skipped, []);
      // Approving again: skipped, nothing changes.
      const again = await act(env, w.receiving.key, "approve_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [a],
      });
      assert.deepEqual(again.body, { reward_events: [], skipped: [{ id: a, status: "approved" }] });
      // Reject: pending and approved can be rejected; the reason is kept.
      const rejected = await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [b, c],
        reason: "Duplicate order",
      });
      assert.deepEqual(
        (rejected.body.reward_events as Reward[]).map((r) => [r.id, r.status, r.rejection_reason]).sort(),
        [[b, "rejected", "Duplicate order"], [c, "rejected", "Duplicate order"]].sort(),
      );
      // A rejected reward is neither approved nor rejected again.
      for (const action of ["approve_rewards", "reject_rewards"]) {
        const reply = await act(env, w.receiving.key, action, {
          channel_id: w.channelId,
          reward_event_ids: [c],
          reason: "x",
        });
        assert.deepEqual(reply.body, { reward_events: [], skipped: [{ id: c, status: "rejected" }] }, action);
      }
      const [row] = await sql`select status, rejection_reason from public.reward_events where id = ${c}`;
      assert.deepEqual({ ...row }, { status: "rejected", rejection_reason: "Duplicate order" });
      // In a payout: approved but no longer rejectable; once paid, neither.
      const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      const payoutId = (payout.body.payout as Payout).id;
      const inPayout = await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [a],
        reason: "x",
      });
      assert.deepEqual(inPayout.body, { reward_events: [], skipped: [{ id: a, status: "approved" }] });
      await act(env, w.receiving.key, "mark_payout_paid", { payout_id: payoutId, reference: "SEPA-1" });
      for (const action of ["approve_rewards", "reject_rewards"]) {
        const reply = await act(env, w.receiving.key, action, {
          channel_id: w.channelId,
          reward_event_ids: [a],
          reason: "x",
        });
        assert.deepEqual(reply.body, { reward_events: [], skipped: [{ id: a, status: "paid" }] }, action);
      }
    });

    await t.step(
      "approvals: 404 for an id of no reward event of the channel, nothing changes; 400s and 403s",
      async () => {
        const w = await channel(env);
        const other = await channel(env);
        const mine = (await reward(env, w)).rewardId;
        const foreign = (await reward(env, other)).rewardId;
        const unknown = crypto.randomUUID();
        const reply = await act(env, w.receiving.key, "approve_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [mine, foreign, unknown],
        });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 404, `Reward event not found: ${foreign}`, "reward_event_not_found"),
        );
        assert.equal(await statusOf(env, w, mine), "pending");
        const cases: [string, Record<string, unknown>, string][] = [
          ["approve_rewards", {}, "channel_id required"],
          ["approve_rewards", { channel_id: w.channelId }, "reward_event_ids required"],
          ["approve_rewards", { channel_id: w.channelId, reward_event_ids: [] }, "reward_event_ids required"],
          [
            "approve_rewards",
            { channel_id: w.channelId, reward_event_ids: ["x"] },
            "reward_event_ids must be an array of UUIDs",
          ],
          [
            "approve_rewards",
            { channel_id: w.channelId, reward_event_ids: Array.from({ length: 1001 }, () => crypto.randomUUID()) },
            "reward_event_ids must have at most 1000 entries",
          ],
          ["reject_rewards", { channel_id: w.channelId, reward_event_ids: [mine] }, "reason required"],
          ["mark_payout_paid", { payout_id: crypto.randomUUID() }, "reference required"],
          ["mark_payout_paid", { reference: "x" }, "payout_id required"],
          ["cancel_payout", {}, "payout_id required"],
          ["create_payout", { channel_id: w.channelId, currency: "usd" }, "currency must be an ISO 4217 currency code"],
          ["get_balances", {}, "channel_id required"],
          ["get_payouts", { channel_id: w.channelId, limit: 0 }, "limit must be an integer between 1 and 100"],
        ];
        for (const [action, fields, message] of cases) {
          const r = await act(env, w.receiving.key, action, fields);
          assert.deepEqual(statusAndBody(r), errorBody(r, 400, message, "invalid_request"), message);
        }
        // Receiving-only actions: every other party gets 403, an outsider "Channel not accessible".
        for (const p of [w.creator, w.referring, w.partner]) {
          for (
            const [action, fields] of [
              ["approve_rewards", { channel_id: w.channelId, reward_event_ids: [mine] }],
              ["reject_rewards", { channel_id: w.channelId, reward_event_ids: [mine], reason: "x" }],
              ["create_payout", { channel_id: w.channelId }],
            ] as const
          ) {
            const r = await act(env, p.key, action, fields);
            assert.deepEqual(
              statusAndBody(r),
              errorBody(r, 403, "Only the receiving company can do this on this channel", "not_permitted"),
            );
          }
          // Reads are open to every party.
          assert.equal((await act(env, p.key, "get_balances", { channel_id: w.channelId })).status, 200);
          assert.equal((await act(env, p.key, "get_payouts", { channel_id: w.channelId })).status, 200);
        }
        const outsider = await act(env, w.outsider.key, "get_balances", { channel_id: w.channelId });
        assert.deepEqual(
          statusAndBody(outsider),
          errorBody(outsider, 403, "Channel not accessible", "channel_not_accessible"),
        );
        assert.equal(await statusOf(env, w, mine), "pending");
      },
    );

    await t.step("balances are the sums of the reward events by status", async () => {
      const w = await channel(env, "10", 0);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "2.5" });
      const first = await reward(env, w, 123.45);
      await reward(env, w, 1000);
      await sql`update public.channels set hold_days = 30 where id = ${w.channelId}`;
      const pending = await reward(env, w, 0.01);
      await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [pending.rewardId],
        reason: "Fraud",
      });
      await sql`update public.channels set hold_days = 0 where id = ${w.channelId}`;
      await act(env, w.receiving.key, "refund_purchase", { purchase_id: first.purchaseId, amount: 23.45 });
      const rows = await sql`
        select r.amount::text, r.status, r.payouts_id from public.reward_events r where r.channels_id = ${w.channelId}`;
      assert.equal(rows.length, 6);
      const byStatus = await sql`
        select coalesce(sum(amount) filter (where status = 'rejected'), 0)::text as rejected,
          coalesce(sum(amount) filter (where status <> 'rejected'), 0)::text as approved
        from public.reward_events where channels_id = ${w.channelId}`;
      // 10 + 3.09 (2.5 % of 123.45) + 10 + 25 - 0.59 (2.5 % of the refunded 23.45); the 0.01 sale's 10 rejected.
      assert.deepEqual(byStatus.map((r) => ({ ...r })), [{ rejected: "10.00", approved: "47.50" }]);
      assert.deepEqual(await balances(env, w), [{
        currency: "USD",
        pending: 0,
        review: 0,
        approved: 47.5,
        in_payout: 0,
        paid: 0,
        rejected: 10,
      }]);
      const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.deepEqual(
        [(payout.body.payout as Payout).amount, (payout.body.payout as Payout).reward_events_count],
        [47.5, 5],
      );
      const [after] = await balances(env, w);
      assert.deepEqual([after.approved, after.in_payout, after.paid], [0, 47.5, 0]);
      await act(env, w.receiving.key, "mark_payout_paid", {
        payout_id: (payout.body.payout as Payout).id,
        reference: "r",
      });
      const [paid] = await balances(env, w);
      assert.deepEqual([paid.approved, paid.in_payout, paid.paid, paid.rejected], [0, 0, 47.5, 10]);
    });

    await t.step("payouts gather only approved rewards; Nothing to pay; paid and cancelled answer 409", async () => {
      const w = await channel(env, "25");
      const held = (await reward(env, w)).rewardId;
      const empty = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.deepEqual(statusAndBody(empty), errorBody(empty, 400, "Nothing to pay", "nothing_to_pay"));
      const approvedId = (await reward(env, w)).rewardId;
      await act(env, w.receiving.key, "approve_rewards", { channel_id: w.channelId, reward_event_ids: [approvedId] });
      const created = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.equal(created.status, 200, created.text);
      const payout = created.body.payout as Payout & Record<string, unknown>;
      assert.deepEqual(Object.keys(payout), [
        "id",
        "channels_id",
        "beneficiary_company_id",
        "currency",
        "amount",
        "reward_events_count",
        "status",
        "reference",
        "created_at",
        "paid_at",
      ]);
      assert.deepEqual(
        [payout.channels_id, payout.beneficiary_company_id, payout.currency, payout.amount, payout.reward_events_count],
        [w.channelId, w.referring.id, "USD", 25, 1],
      );
      assert.deepEqual([payout.status, payout.reference, payout.paid_at], ["pending", null, null]);
      const listed = await rewards(env, w);
      assert.deepEqual([listed.get(approvedId)!.status, listed.get(approvedId)!.payouts_id], ["approved", payout.id]);
      assert.deepEqual([listed.get(held)!.status, listed.get(held)!.payouts_id], ["pending", null]);
      // Nothing approved is left outside the payout.
      const second = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.deepEqual(statusAndBody(second), errorBody(second, 400, "Nothing to pay", "nothing_to_pay"));

      const paid = await act(env, w.receiving.key, "mark_payout_paid", { payout_id: payout.id, reference: "WIRE-42" });
      assert.equal(paid.status, 200, paid.text);
      const paidPayout = paid.body.payout as Record<string, unknown>;
      assert.deepEqual([paidPayout.status, paidPayout.reference, typeof paidPayout.paid_at], [
        "paid",
        "WIRE-42",
        "string",
      ]);
      assert.equal(await statusOf(env, w, approvedId), "paid");
      for (const action of ["mark_payout_paid", "cancel_payout"]) {
        const r = await act(env, w.receiving.key, action, { payout_id: payout.id, reference: "again" });
        assert.deepEqual(statusAndBody(r), errorBody(r, 409, "Payout already paid", "payout_already_paid"), action);
      }
      const [stored] = await sql`select reference from public.payouts where id = ${payout.id}`;
      assert.equal(stored.reference, "WIRE-42");

      // Cancel: the rewards leave the payout and are payable again.
      const another = (await reward(env, w)).rewardId;
      await act(env, w.receiving.key, "approve_rewards", { channel_id: w.channelId, reward_event_ids: [another] });
      const next = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body
        .payout as Payout;
      const cancelled = await act(env, w.receiving.key, "cancel_payout", { payout_id: next.id });
      assert.equal((cancelled.body.payout as Payout).status, "cancelled");
      const back = (await rewards(env, w)).get(another)!;
      assert.deepEqual([back.status, back.payouts_id], ["approved", null]);
      for (const action of ["mark_payout_paid", "cancel_payout"]) {
        const r = await act(env, w.receiving.key, action, { payout_id: next.id, reference: "x" });
        assert.deepEqual(statusAndBody(r), errorBody(r, 409, "Payout cancelled", "payout_cancelled"), action);
      }
      // Another party of the channel, an outsider, an unknown payout.
      const notReceiving = await act(env, w.referring.key, "cancel_payout", { payout_id: next.id });
      assert.deepEqual(
        statusAndBody(notReceiving),
        errorBody(notReceiving, 403, "Only the receiving company can do this on this channel", "not_permitted"),
      );
      for (const [key, id] of [[w.outsider.key, next.id], [w.receiving.key, crypto.randomUUID()]]) {
        const r = await act(env, key, "mark_payout_paid", { payout_id: id, reference: "x" });
        assert.deepEqual(statusAndBody(r), errorBody(r, 403, "Payout not accessible", "payout_not_accessible"));
      }
      const list = await act(env, w.referring.key, "get_payouts", { channel_id: w.channelId, limit: 1 });
      assert.deepEqual((list.body.payouts as Payout[]).map((p) => [p.id, p.status]), [[next.id, "cancelled"]]);
      const rest = await act(env, w.referring.key, "get_payouts", {
        channel_id: w.channelId,
        cursor: list.body.next_cursor,
      });
      assert.deepEqual((rest.body.payouts as Payout[]).map((p) => [p.id, p.status]), [[payout.id, "paid"]]);
      assert.equal(rest.body.next_cursor, null);
    });

    await t.step("create_payout waits for a rejection in progress and pays only what stays approved", async () => {
      const w = await channel(env, "10", 0);
      const rejected = (await reward(env, w)).rewardId;
      const kept = (await reward(env, w)).rewardId;
      const other = await sql.reserve();
      try {
        // Another transaction is rejecting a reward when the payout starts.
        await other`begin`;
        await other`update public.reward_events set status = 'rejected', decided_at = now(), rejection_reason = 'Fraud'
          where id = ${rejected}`;
        const payout = act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
        await waitsOnLock(sql, payout, "the rejected reward's lock");
        await other`commit`;
        const reply = await payout;
        assert.equal(reply.status, 200, reply.text);
        const made = reply.body.payout as Payout;
        assert.deepEqual([made.amount, made.reward_events_count], [10, 1]);
        const rows = await sql`select id, payouts_id from public.reward_events where id in (${rejected}, ${kept})`;
        assert.deepEqual(
          new Map(rows.map((r) => [r.id, r.payouts_id])),
          new Map([[rejected, null], [kept, made.id]]),
        );
      } finally {
        other.release();
      }
    });

    await t.step("20 concurrent create_payout calls: every reward event in at most one payout", async () => {
      const w = await channel(env, "1", 0);
      await sql`
        with event as (
          insert into public.events (category, channels_id, leads_id) values ('new_lead', ${w.channelId}, ${w.leadId})
          returning id
        )
        insert into public.reward_events (channels_id, leads_id, events_id, amount, currency, reward_type,
          beneficiary_companies_id)
        select ${w.channelId}, ${w.leadId}, event.id, 1, 'USD', 'fixed', ${w.referring.id}
        from event cross join generate_series(1, 500)`;
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })),
      );
      const made = replies.filter((r) => r.status === 200).map((r) => r.body.payout as Payout);
      assert.ok(made.length >= 1);
      for (const r of replies.filter((r) => r.status !== 200)) {
        assert.deepEqual(statusAndBody(r), errorBody(r, 400, "Nothing to pay", "nothing_to_pay"));
      }
      const [check] = await sql`
        select count(*)::int as rewards, count(payouts_id)::int as in_payout, count(distinct payouts_id)::int as payouts,
          (select coalesce(sum(amount), 0)::int from public.payouts where channels_id = ${w.channelId}) as paid_out
        from public.reward_events where channels_id = ${w.channelId}`;
      assert.deepEqual({ ...check }, { rewards: 500, in_payout: 500, payouts: made.length, paid_out: 500 });
      assert.equal(made.reduce((sum, p) => sum + p.reward_events_count, 0), 500);
    });

    await t.step(
      "refunds: a reversal follows its unpaid original; after payment it claws back from the next payout",
      async () => {
        const w = await channel(env, "0", 0);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
        await sql`update public.reward_triggers set status = 'Inactive' where channels_id = ${w.channelId} and reward_type = 'fixed'`;
        // Before any payout: the reversal follows its original (rejected with it, too).
        await sql`update public.channels set hold_days = 30 where id = ${w.channelId}`;
        const early = await reward(env, w, 200);
        const refund = await act(env, w.receiving.key, "refund_purchase", {
          purchase_id: early.purchaseId,
          amount: 50,
        });
        const reversal = (refund.body.reward_events as Reward[])[0];
        assert.deepEqual([reversal.amount, reversal.status], [-5, "pending"]);
        await act(env, w.receiving.key, "reject_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [early.rewardId],
          reason: "Returned",
        });
        assert.equal(await statusOf(env, w, reversal.id), "rejected");
        // A reversal cannot be decided on its own: it follows its original.
        const direct = await act(env, w.receiving.key, "approve_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [reversal.id],
        });
        assert.deepEqual(direct.body, { reward_events: [], skipped: [{ id: reversal.id, status: "rejected" }] });

        // Paid, then refunded: the clawback is approved at once and nets against the next payout.
        await sql`update public.channels set hold_days = 0 where id = ${w.channelId}`;
        const sale = await reward(env, w, 1000);
        const first = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body
          .payout as Payout;
        assert.deepEqual([first.amount, first.reward_events_count], [100, 1]);
        await act(env, w.receiving.key, "mark_payout_paid", { payout_id: first.id, reference: "P1" });
        const clawback = (
          (await act(env, w.receiving.key, "refund_purchase", { purchase_id: sale.purchaseId, amount: 300 })).body
            .reward_events as Reward[]
        )[0];
        assert.deepEqual([clawback.amount, clawback.status], [-30, "approved"]);
        // The clawback alone is nothing to pay; with a new 50 reward the payout is 20.
        const alone = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
        assert.deepEqual(statusAndBody(alone), errorBody(alone, 400, "Nothing to pay", "nothing_to_pay"));
        await reward(env, w, 500);
        const second = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body
          .payout as Payout;
        assert.deepEqual([second.amount, second.reward_events_count], [20, 2]);
        const [sums] = await sql`
        select (select sum(amount)::text from public.reward_events where payouts_id = ${second.id}) as in_second`;
        assert.equal(sums.in_second, "20.00");
      },
    );

    await t.step(
      "every branch of the status rule: listing, balances and create_payout read the same statuses",
      async () => {
        const w = await world(sql);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
        // One reward of 10 % per purchase; a payout row written directly holds a reward.
        const sale = async (amount: number) => await reward(env, w, amount);
        const inPayout = async (rewardId: string, status: string) => {
          const [p] = await sql`
            insert into public.payouts (channels_id, beneficiary_companies_id, currency, amount, reward_events_count,
              companies_id, status)
            values (${w.channelId}, ${w.referring.id}, 'USD', 1, 1, ${w.receiving.id}, ${status}) returning id`;
          await sql`update public.reward_events set payouts_id = ${p.id} where id = ${rewardId}`;
        };
        const pending = await sale(100);
        const held = await sale(2000);
        await sql`update public.reward_events set created_at = now() - interval '31 days' where id = ${held.rewardId}`;
        const review = await sale(300);
        await sql`update public.reward_events set needs_review = true, created_at = now() - interval '1 year'
          where id = ${review.rewardId}`;
        const rejected = await sale(400);
        await act(env, w.receiving.key, "reject_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [rejected.rewardId],
          reason: "Fraud",
        });
        const decided = await sale(700);
        await act(env, w.receiving.key, "approve_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [decided.rewardId],
        });
        const queued = await sale(500);
        await inPayout(queued.rewardId, "pending");
        const paid = await sale(600);
        await inPayout(paid.rewardId, "paid");
        // Half of each of these purchases refunded: a reversal of half the reward.
        const reversalOf = new Map<string, string>();
        for (const s of [pending, review, rejected, queued, paid]) {
          const refund = await act(env, w.receiving.key, "refund_purchase", {
            purchase_id: s.purchaseId,
            amount: (await sql`select purchase_amount from public.purchases where id = ${s.purchaseId}`)[0]
              .purchase_amount / 2,
          });
          assert.equal(refund.status, 200, refund.text);
          reversalOf.set(s.rewardId, (refund.body.reward_events as Reward[])[0].id);
        }
        const expected: [string, number, string][] = [
          [pending.rewardId, 10, "pending"],
          [reversalOf.get(pending.rewardId)!, -5, "pending"],
          [held.rewardId, 200, "approved"],
          [review.rewardId, 30, "review"],
          [reversalOf.get(review.rewardId)!, -15, "review"],
          [rejected.rewardId, 40, "rejected"],
          [reversalOf.get(rejected.rewardId)!, -20, "rejected"],
          [decided.rewardId, 70, "approved"],
          [queued.rewardId, 50, "approved"],
          // Its original in a pending payout: it reads the original's status and waits for that payout.
          [reversalOf.get(queued.rewardId)!, -25, "approved"],
          [paid.rewardId, 60, "paid"],
          [reversalOf.get(paid.rewardId)!, -30, "approved"],
        ];
        const listed = await rewards(env, w);
        assert.deepEqual(
          expected.map(([id]) => [id, listed.get(id)?.amount, listed.get(id)?.status]),
          expected,
        );
        assert.equal(listed.size, expected.length);
        assert.deepEqual(await balances(env, w), [{
          currency: "USD",
          pending: 5,
          review: 15,
          approved: 240,
          in_payout: 25,
          paid: 60,
          rejected: 20,
        }]);
        // The approved rewards in no payout, but the reversal waiting on its original's payout: 200 + 70 - 30.
        const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
        assert.equal(payout.status, 200, payout.text);
        const made = payout.body.payout as Payout;
        assert.deepEqual([made.amount, made.reward_events_count], [240, 3]);
        const gathered = await sql`select id from public.reward_events where payouts_id = ${made.id} order by id`;
        assert.deepEqual(
          gathered.map((r) => r.id),
          [held.rewardId, decided.rewardId, reversalOf.get(paid.rewardId)!].sort(),
        );
      },
    );

    await t.step("Idempotency-Key on the §7 writes: a retry replays and writes nothing", async () => {
      const w = await channel(env, "5", 0);
      await reward(env, w);
      const headers = { "Idempotency-Key": crypto.randomUUID() };
      const body = { action: "create_payout", channel_id: w.channelId };
      const first = await call(env.handler, body, { key: w.receiving.key, headers });
      const again = await call(env.handler, body, { key: w.receiving.key, headers });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual([again.headers.get("idempotent-replayed"), again.text], ["true", first.text]);
      const [n] = await sql`select count(*)::int as n from public.payouts where channels_id = ${w.channelId}`;
      assert.equal(n.n, 1);
      const payoutId = (first.body.payout as Payout).id;
      const paidHeaders = { "Idempotency-Key": crypto.randomUUID() };
      const paid = { action: "mark_payout_paid", payout_id: payoutId, reference: "R-1" };
      const p1 = await call(env.handler, paid, { key: w.receiving.key, headers: paidHeaders });
      const p2 = await call(env.handler, paid, { key: w.receiving.key, headers: paidHeaders });
      assert.deepEqual([p1.status, p2.status, p2.headers.get("idempotent-replayed"), p2.text], [
        200,
        200,
        "true",
        p1.text,
      ]);
    });

    await t.step("payout list CSV: RFC 4180 quoting, CRLF, a header row", async () => {
      const w = await channel(env, "5", 0);
      await sql`update public.companies set name = ${'Müller, "Partner" & Co'} where id = ${w.referring.id}`;
      await reward(env, w, 100);
      const payout = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body
        .payout as Payout;
      await act(env, w.receiving.key, "mark_payout_paid", { payout_id: payout.id, reference: "line1\nline2" });
      const csv = payoutsCsv(await ops.listPayouts(sql, { channel: w.channelId }));
      const [paidRow] =
        await sql`select internal.iso_time(paid_at) as paid_at, internal.iso_time(created_at) as created_at
        from public.payouts where id = ${payout.id}`;
      assert.equal(
        csv,
        "payout_id,channel_id,beneficiary_company_id,beneficiary_name,currency,amount,status,reference,created_at,paid_at\r\n" +
          `${payout.id},${w.channelId},${w.referring.id},"Müller, ""Partner"" & Co",USD,5.00,paid,"line1\nline2",` +
          `${paidRow.created_at},${paidRow.paid_at}\r\n`,
      );
    });
  } finally {
    await env.close();
  }
});

Deno.test("a reversal waits while its original is in a pending payout (issue 17, item 1)", async (t) => {
  const env = testEnv();
  const { sql } = env;
  // A channel with a fixed 100 trigger and no hold period; every call by the receiving company.
  const setup = async () => {
    const w = await channel(env, "100", 0);
    const pay = async (expected: [number, number]) => {
      const reply = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.equal(reply.status, 200, reply.text);
      const payout = reply.body.payout as Payout;
      assert.deepEqual([payout.amount, payout.reward_events_count, payout.status], [...expected, "pending"]);
      return payout.id;
    };
    const nothingToPay = async () => {
      const reply = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
      assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Nothing to pay", "nothing_to_pay"));
    };
    const refund = async (purchaseId: string) => {
      const reply = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId });
      assert.equal(reply.status, 200, reply.text);
      return (reply.body.reward_events as Reward[])[0];
    };
    const end = async (action: string, payoutId: string) => {
      const reply = await act(env, w.receiving.key, action, { payout_id: payoutId, reference: "BANK-1" });
      assert.equal(reply.status, 200, reply.text);
    };
    const heldBy = async () =>
      new Map((await sql`select id, payouts_id from public.reward_events where channels_id = ${w.channelId}`)
        .map((r) => [r.id, r.payouts_id]));
    const money = async () => {
      const [b] = await balances(env, w);
      return [b.pending, b.review, b.approved, b.in_payout, b.paid, b.rejected];
    };
    return { w, pay, nothingToPay, refund, end, heldBy, money };
  };
  try {
    await t.step("the issue's sequence: the partner is paid the 200 it earned, the reversal is rejected", async () => {
      const { w, pay, nothingToPay, refund, end, heldBy, money } = await setup();
      const s1 = await reward(env, w);
      assert.equal(await statusOf(env, w, s1.rewardId), "approved");
      const pa = await pay([100, 1]);
      const reversal = await refund(s1.purchaseId);
      // The reversal reads its original's status, waits on PA and counts beside it under in_payout.
      assert.deepEqual([reversal.amount, reversal.status, reversal.payouts_id], [-100, "approved", null]);
      assert.deepEqual(await money(), [0, 0, 0, 0, 0, 0]);
      const s2 = await reward(env, w);
      const s3 = await reward(env, w);
      assert.deepEqual(await money(), [0, 0, 200, 0, 0, 0]);
      // PB holds S2's and S3's rewards, not the reversal.
      const pb = await pay([200, 2]);
      assert.deepEqual(
        await heldBy(),
        new Map([[s1.rewardId, pa], [reversal.id, null], [s2.rewardId, pb], [s3.rewardId, pb]]),
      );
      // The original cannot be rejected in PA, nor the reversal on its own.
      const refused = await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [s1.rewardId, reversal.id],
        reason: "Refunded",
      });
      assert.deepEqual(refused.body, {
        reward_events: [],
        skipped: [{ id: s1.rewardId, status: "approved" }, { id: reversal.id, status: "approved" }]
          .sort((a, b) => a.id < b.id ? -1 : 1),
      });
      await end("cancel_payout", pa);
      assert.deepEqual(await money(), [0, 0, 0, 200, 0, 0]);
      const rejected = await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [s1.rewardId],
        reason: "Refunded",
      });
      assert.deepEqual(
        (rejected.body.reward_events as Reward[]).map((r) => [r.id, r.status, r.rejection_reason]),
        [[s1.rewardId, "rejected", "Refunded"]],
      );
      assert.equal(await statusOf(env, w, reversal.id), "rejected");
      await end("mark_payout_paid", pb);
      // Earned 200 (S2, S3), paid 200; the rejected 100 and its reversal net to 0.
      assert.deepEqual(await money(), [0, 0, 0, 0, 200, 0]);
      await nothingToPay();
      const listed = await rewards(env, w);
      assert.deepEqual(
        [s1.rewardId, reversal.id, s2.rewardId, s3.rewardId].map((id) => listed.get(id)!.status),
        ["rejected", "rejected", "paid", "paid"],
      );
      const payouts = await sql`select id, amount::text, status from public.payouts where channels_id = ${w.channelId}
        order by created_at, id`;
      assert.deepEqual(payouts.map((p) => ({ ...p })), [
        { id: pa, amount: "100.00", status: "cancelled" },
        { id: pb, amount: "200.00", status: "paid" },
      ]);
      const [row] = await sql`select status, payouts_id, rejection_reason from public.reward_events
        where id = ${reversal.id}`;
      assert.deepEqual({ ...row }, { status: "pending", payouts_id: null, rejection_reason: null });
    });

    await t.step("its original paid: the reversal is a clawback netted against the next payout", async () => {
      const { w, pay, nothingToPay, refund, end, heldBy, money } = await setup();
      const s1 = await reward(env, w);
      const pa = await pay([100, 1]);
      await end("mark_payout_paid", pa);
      const clawback = await refund(s1.purchaseId);
      assert.deepEqual([clawback.amount, clawback.status], [-100, "approved"]);
      assert.deepEqual(await money(), [0, 0, -100, 0, 100, 0]);
      await nothingToPay();
      const s2 = await reward(env, w);
      const s3 = await reward(env, w);
      const pb = await pay([100, 3]);
      assert.deepEqual(
        await heldBy(),
        new Map([[s1.rewardId, pa], [clawback.id, pb], [s2.rewardId, pb], [s3.rewardId, pb]]),
      );
      await end("mark_payout_paid", pb);
      assert.deepEqual(await money(), [0, 0, 0, 0, 200, 0]);
    });

    await t.step("its original's payout cancelled: gathered together with its original", async () => {
      const { w, pay, nothingToPay, refund, end, heldBy, money } = await setup();
      const s1 = await reward(env, w);
      const pa = await pay([100, 1]);
      const reversal = await refund(s1.purchaseId);
      await nothingToPay();
      await end("cancel_payout", pa);
      assert.equal(await statusOf(env, w, reversal.id), "approved");
      assert.deepEqual(await money(), [0, 0, 0, 0, 0, 0]);
      const s2 = await reward(env, w);
      const pb = await pay([100, 3]);
      assert.deepEqual(
        await heldBy(),
        new Map([[s1.rewardId, pb], [reversal.id, pb], [s2.rewardId, pb]]),
      );
    });

    await t.step("its original's payout paid: the waiting reversal is approved and payable next", async () => {
      const { w, pay, nothingToPay, refund, end, heldBy, money } = await setup();
      const s1 = await reward(env, w);
      const pa = await pay([100, 1]);
      const reversal = await refund(s1.purchaseId);
      const s2 = await reward(env, w);
      // PB pays S2 only; the reversal waits on PA.
      const pb = await pay([100, 1]);
      assert.deepEqual(await money(), [0, 0, 0, 100, 0, 0]);
      await end("mark_payout_paid", pa);
      assert.deepEqual([await statusOf(env, w, reversal.id), await statusOf(env, w, s1.rewardId)], [
        "approved",
        "paid",
      ]);
      assert.deepEqual(await money(), [0, 0, -100, 100, 100, 0]);
      await nothingToPay();
      const s3 = await reward(env, w);
      const s4 = await reward(env, w);
      const pc = await pay([100, 3]);
      assert.deepEqual(
        await heldBy(),
        new Map([[s1.rewardId, pa], [reversal.id, pc], [s2.rewardId, pb], [s3.rewardId, pc], [s4.rewardId, pc]]),
      );
    });

    await t.step("an original freed by a concurrent cancel_payout is not gathered, nor is its reversal", async () => {
      const { w, pay, refund, end, heldBy } = await setup();
      const s1 = await reward(env, w);
      const pa = await pay([100, 1]);
      const reversal = await refund(s1.purchaseId);
      const s2 = await reward(env, w);
      const other = await sql.reserve();
      try {
        // create_payout waits for S2's reward while its candidates (the reversal and S2's reward) are fixed.
        await other`begin`;
        await other`select 1 from public.reward_events where id = ${s2.rewardId} for update`;
        const payout = act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
        await waitsOnLock(sql, payout, "the locked reward");
        // Meanwhile PA is cancelled: the original is free (and could be rejected next), but no candidate.
        await end("cancel_payout", pa);
        await other`commit`;
        const reply = await payout;
        assert.equal(reply.status, 200, reply.text);
        const pb = reply.body.payout as Payout;
        assert.deepEqual([pb.amount, pb.reward_events_count], [100, 1]);
        assert.deepEqual(
          await heldBy(),
          new Map([[s1.rewardId, null], [reversal.id, null], [s2.rewardId, pb.id]]),
        );
      } finally {
        other.release();
      }
      await act(env, w.receiving.key, "reject_rewards", {
        channel_id: w.channelId,
        reward_event_ids: [s1.rewardId],
        reason: "Refunded",
      });
      assert.equal(await statusOf(env, w, reversal.id), "rejected");
    });
  } finally {
    await env.close();
  }
});

Deno.test("public intake guard: intake_per_minute per channel and client address", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    const w = await world(sql);
    await sql`update public.channels set no_auth_api = true, intake_per_minute = 3 where id = ${w.channelId}`;
    const intake = (forwardedFor: string) =>
      call(env.handler, { action: "lead_external", channel_id: w.channelId }, {
        headers: { "X-Forwarded-For": forwardedFor },
      });
    const leads = async () =>
      (await sql`select count(*)::int as n from public.leads where channels_id = ${w.channelId}`)[0].n;

    await t.step("the limit is per address; entries the client writes to the left do not count", async () => {
      for (let i = 0; i < 3; i++) {
        assert.equal((await intake(`10.0.0.${i}, 203.0.113.7`)).status, 200);
      }
      const before = await leads();
      const limited = await intake("198.51.100.1, 203.0.113.7");
      assert.deepEqual(statusAndBody(limited), errorBody(limited, 429, "Too many requests", "rate_limited"));
      const retryAfter = Number(limited.headers.get("retry-after"));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
      assert.equal(await leads(), before, "nothing written");
      // Another address (the rightmost entry) has its own budget.
      assert.equal((await intake("203.0.113.7, 203.0.113.8")).status, 200);
    });

    await t.step("the window slides: a lead older than a minute no longer counts", async () => {
      await sql`update public.intake_log set created_at = now() - interval '61 seconds'
        where channels_id = ${w.channelId} and client = '203.0.113.7'`;
      assert.equal((await intake("203.0.113.7")).status, 200);
    });

    await t.step("channel checks come first; the setting is per channel", async () => {
      const closed = await world(sql);
      const reply = await call(env.handler, { action: "lead_external", channel_id: closed.channelId }, {
        headers: { "X-Forwarded-For": "203.0.113.7" },
      });
      assert.deepEqual(
        statusAndBody(reply),
        errorBody(reply, 403, "Public API not enabled for this channel", "public_api_disabled"),
      );
    });

    await t.step("concurrent requests of one address never exceed the limit", async () => {
      const busy = await world(sql);
      await sql`update public.channels set no_auth_api = true, intake_per_minute = 5 where id = ${busy.channelId}`;
      const replies = await Promise.all(
        Array.from({ length: 20 }, () =>
          call(env.handler, { action: "lead_external", channel_id: busy.channelId }, {
            headers: { "X-Forwarded-For": "192.0.2.1" },
          })),
      );
      assert.deepEqual(replies.map((r) => r.status).sort(), [...Array(5).fill(200), ...Array(15).fill(429)]);
      const [n] = await sql`select count(*)::int as n from public.leads where channels_id = ${busy.channelId}`;
      assert.equal(n.n, 1 + 5);
    });
  } finally {
    await env.close();
  }
});
