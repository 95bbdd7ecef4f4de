import assert from "node:assert/strict";
import type postgres from "postgres";
import { call, errorBody, ops, type Reply, statusAndBody, testEnv, world, writtenFor } from "./helpers.ts";

async function rewardsOf(sql: postgres.Sql, purchaseId: string) {
  const rows = await sql`
    select reward_triggers_id, amount::text, currency, reward_type, rate::text, base_amount::text,
      beneficiary_companies_id, channels_id, leads_id, events_id, status
    from public.reward_events where purchases_id = ${purchaseId} order by reward_type, reward_triggers_id`;
  return rows.map((r) => ({ ...r }));
}

Deno.test("create_purchase rewards", async (t) => {
  const env = await testEnv();
  const { sql, handler } = env;

  let lastReply: Reply | null = null;
  async function purchase(key: string, fields: Record<string, unknown>) {
    const reply = await call(handler, { action: "create_purchase", ...fields }, { key });
    lastReply = reply;
    assert.equal(reply.status, 200, reply.text);
    return (reply.body.purchase as Record<string, string>).id;
  }

  try {
    await t.step("fixed and percentage triggers fire together with a full snapshot", async () => {
      const w = await world(sql);
      const fixed = await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "purchase",
        reward: "fixed",
        amount: "50",
      });
      const pct = await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "purchase",
        reward: "percentage",
        amount: "10",
      });
      const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: 12500 });
      const [event] = await sql`select id from public.events where purchases_id = ${id}`;
      const common = {
        currency: "USD",
        base_amount: "12500",
        beneficiary_companies_id: w.referring.id,
        channels_id: w.channelId,
        leads_id: w.leadId,
        events_id: event.id,
        status: "pending",
      };
      assert.deepEqual(await rewardsOf(sql, id), [
        { ...common, reward_triggers_id: fixed.id, amount: "50.00", reward_type: "fixed", rate: null },
        { ...common, reward_triggers_id: pct.id, amount: "1250.00", reward_type: "percentage", rate: "10" },
      ]);
      // The response explains the same rewards.
      const ids = await sql`select id, reward_triggers_id from public.reward_events where purchases_id = ${id}`;
      const idOf = (trigger: unknown) => ids.find((r) => r.reward_triggers_id === trigger)!.id;
      assert.deepEqual(lastReply!.body.reward_events, [
        {
          id: idOf(fixed.id),
          reward_triggers_id: fixed.id,
          amount: 50,
          currency: "USD",
          reward_type: "fixed",
          rate: null,
          base_amount: 12500,
          beneficiary_company_id: w.referring.id,
          status: "pending",
        },
        {
          id: idOf(pct.id),
          reward_triggers_id: pct.id,
          amount: 1250,
          currency: "USD",
          reward_type: "percentage",
          rate: 10,
          base_amount: 12500,
          beneficiary_company_id: w.referring.id,
          status: "pending",
        },
      ]);
    });

    await t.step("percentage rewards round half away from zero to the currency's minor units", async () => {
      // [currency, purchase amount, rate %, expected reward]
      const cases: [string, string, string, string][] = [
        ["USD", "0.25", "10", "0.03"], // 0.025 → 0.03
        ["USD", "0.05", "50", "0.03"], // 0.025 → 0.03
        ["USD", "0.35", "10", "0.04"], // 0.035 → 0.04
        ["USD", "0.24", "10", "0.02"], // 0.024 → 0.02
        ["JPY", "5", "10", "1"], // 0.5 → 1
        ["JPY", "25", "10", "3"], // 2.5 → 3
        ["JPY", "24", "10", "2"], // 2.4 → 2
        ["KWD", "0.0025", "20", "0.001"], // 0.0005 → 0.001
        ["KWD", "1.2345", "10", "0.123"], // 0.12345 → 0.123
        ["KWD", "1.2355", "10", "0.124"], // 0.12355 → 0.124
      ];
      for (const [currency, amount, rate, expected] of cases) {
        const w = await world(sql, { currency });
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: rate });
        const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: amount });
        const rewards = await rewardsOf(sql, id);
        assert.deepEqual(
          rewards.map((r) => [r.currency, r.amount]),
          [[currency, expected]],
          `${currency} ${amount} × ${rate}%`,
        );
      }
    });

    await t.step("percentages of amounts with many decimals round once, exactly", async () => {
      // 1 % of 999999999900.499999995 is 9999999999.00499999995: 9999999999.00, where a
      // division by 100 rounded before round() would give 9999999999.01.
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "1" });
      const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: "999999999900.499999995" });
      assert.deepEqual((await rewardsOf(sql, id)).map((r) => r.amount), ["9999999999.00"]);
    });

    await t.step("fixed rewards are paid in the currency's minor units", async () => {
      const w = await world(sql, { currency: "JPY" });
      // The admin CLI refuses such a trigger (finer than the yen); one written before it did, or
      // by hand, is still paid in whole yen.
      await sql`insert into public.reward_triggers (channels_id, trigger, reward_type, amount)
        values (${w.channelId}, 'purchase', 'fixed', 100.5)`;
      const id = await purchase(w.receiving.key, { lead_id: w.leadId });
      assert.deepEqual((await rewardsOf(sql, id)).map((r) => r.amount), ["101"]);
    });

    await t.step("a zero or missing amount fires fixed rewards and no percentage reward", async () => {
      for (const amount of [0, "0", undefined]) {
        const w = await world(sql);
        const fixed = await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "purchase",
          reward: "fixed",
          amount: "7.5",
        });
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
        const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: amount });
        const rewards = await rewardsOf(sql, id);
        assert.deepEqual(rewards.map((r) => [r.reward_triggers_id, r.amount]), [[fixed.id, "7.50"]], String(amount));
      }
    });

    await t.step("a percentage reward that rounds to zero and a zero fixed reward are not inserted", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "1" });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "0" });
      const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: "0.4" });
      assert.deepEqual(await rewardsOf(sql, id), []);
    });

    await t.step("inactive, other-channel and non-purchase triggers never fire", async () => {
      const w = await world(sql);
      const other = await world(sql);
      const status = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "purchase",
        reward: "fixed",
        amount: "1",
        inactive: true,
      });
      await ops.createTrigger(sql, { channel: other.channelId, on: "purchase", reward: "fixed", amount: "2" });
      await ops.createTrigger(sql, { channel: w.channelId, on: "new_lead", reward: "fixed", amount: "3" });
      await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "status_change",
        statusId: status.id as string,
        reward: "fixed",
        amount: "4",
      });
      const active = await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "purchase",
        reward: "fixed",
        amount: "5",
      });
      const id = await purchase(w.receiving.key, { lead_id: w.leadId, purchase_amount: 100 });
      assert.deepEqual((await rewardsOf(sql, id)).map((r) => r.reward_triggers_id), [active.id]);
    });

    await t.step("trigger_ids fires exactly that subset, duplicates once, and [] fires none", async () => {
      const w = await world(sql);
      const a = await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "1" });
      const b = await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "2" });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "3" });
      const subset = await purchase(w.receiving.key, {
        lead_id: w.leadId,
        trigger_ids: [b.id, a.id, String(b.id).toUpperCase()],
      });
      assert.deepEqual((await rewardsOf(sql, subset)).map((r) => r.reward_triggers_id).sort(), [a.id, b.id].sort());
      const none = await purchase(w.receiving.key, { lead_id: w.leadId, trigger_ids: [] });
      assert.deepEqual(await rewardsOf(sql, none), []);
    });

    await t.step("an invalid trigger_ids entry answers 400 naming it and writes nothing", async () => {
      const w = await world(sql);
      const other = await world(sql);
      const status = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      const good = await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "1" });
      const invalid = {
        unknown: crypto.randomUUID(),
        otherChannel: (await ops.createTrigger(sql, {
          channel: other.channelId,
          on: "purchase",
          reward: "fixed",
          amount: "1",
        })).id as string,
        inactive: (await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "purchase",
          reward: "fixed",
          amount: "1",
          inactive: true,
        })).id as string,
        newLead: (await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "new_lead",
          reward: "fixed",
          amount: "1",
        })).id as string,
        statusChange: (await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "status_change",
          statusId: status.id as string,
          reward: "fixed",
          amount: "1",
        })).id as string,
      };
      for (const [kind, id] of Object.entries(invalid)) {
        const reply = await call(handler, {
          action: "create_purchase",
          lead_id: w.leadId,
          purchase_amount: 10,
          trigger_ids: [good.id, id],
        }, { key: w.receiving.key });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 400, `Trigger not found or not active on this channel: ${id}`, "trigger_not_found"),
          kind,
        );
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });
  } finally {
    await env.close();
  }
});
