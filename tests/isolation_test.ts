import assert from "node:assert/strict";
import { act, ops, sendStripe, testEnv, world } from "./helpers.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";

Deno.test("tenant isolation: an outsider gets 403 for every action on every id of a channel it is not in", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    for (const partner of [true, false]) {
      await t.step(partner ? "channel with all four roles" : "channel without a partner", () => isolated(partner));
    }
  } finally {
    await env.close();
  }

  async function isolated(partner: boolean) {
    const w = await world(sql, { partner, holdDays: 0 });
    await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
    const [lead] = await sql`select legacy_id from public.leads where id = ${w.leadId}`;
    const leadCalls: [string, Record<string, unknown>][] = [
      ["get_lead_by_id", { lead_id: w.leadId }],
      ["get_lead_by_legacy_id", { legacy_id: Number(lead.legacy_id) }],
      ["update_lead", { lead_id: w.leadId, first_name: "x" }],
      ["update_status", { lead_id: w.leadId, status: "New" }],
      ["update_status_id", { lead_id: w.leadId, status_id: w.statusId }],
      ["create_purchase", { lead_id: w.leadId }],
      ["create_purchase_custom", { lead_id: w.leadId }],
      ["get_purchases", { lead_id: w.leadId }],
    ];
    const channelCalls: [string, Record<string, unknown>][] = [
      ["get_leads", { channel_id: w.channelId }],
      ["create_lead", { channel_id: w.channelId }],
      ["get_reward_events", { channel_id: w.channelId }],
      ["approve_rewards", { channel_id: w.channelId, reward_event_ids: [crypto.randomUUID()] }],
      ["reject_rewards", { channel_id: w.channelId, reward_event_ids: [crypto.randomUUID()], reason: "x" }],
      ["get_balances", { channel_id: w.channelId }],
      ["create_payout", { channel_id: w.channelId }],
      ["get_payouts", { channel_id: w.channelId }],
      ["import_purchases", { channel_id: w.channelId, purchases: [{ lead_id: w.leadId, external_id: "o-1" }] }],
      ["connect_stripe", { channel_id: w.channelId, signing_secret: "whsec_isolation" }],
    ];
    const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 10 });
    const purchaseId = (made.body.purchase as { id: string }).id;
    const purchaseCalls: [string, Record<string, unknown>][] = [["refund_purchase", { purchase_id: purchaseId }]];
    const payout = await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId });
    const payoutId = (payout.body.payout as { id: string }).id;
    const payoutCalls: [string, Record<string, unknown>][] = [
      ["mark_payout_paid", { payout_id: payoutId, reference: "x" }],
      ["cancel_payout", { payout_id: payoutId }],
    ];
    // An unmatched sale from Stripe on the channel.
    const connected = await act(env, w.receiving.key, "connect_stripe", {
      channel_id: w.channelId,
      signing_secret: "whsec_isolation",
    });
    const sent = await sendStripe(env.handler, (connected.body.connection as { id: string }).id, {
      id: `evt_isolation_${crypto.randomUUID()}`,
      type: "invoice.paid",
      data: { object: { id: `in_isolation_${crypto.randomUUID()}`, amount_paid: 1000, currency: "usd" } },
    }, { secret: "whsec_isolation" });
    assert.equal(sent.body.outcome, "unmatched", sent.text);
    const [sale] = await sql`select s.id from public.stripe_sales s join public.stripe_connections c
      on c.id = s.connections_id where c.channels_id = ${w.channelId}`;
    const saleCalls: [string, Record<string, unknown>][] = [
      ["attach_sale", { unmatched_sale_id: sale.id, lead_id: w.leadId }],
      ["dismiss_sale", { unmatched_sale_id: sale.id, reason: "x" }],
    ];
    const covered = new Set(
      [...leadCalls, ...channelCalls, ...purchaseCalls, ...payoutCalls, ...saleCalls].map(([action]) => action),
    );
    // Every keyed action that takes an id is in one of the lists above; the other two list the caller's own.
    assert.deepEqual(
      Object.keys(actions).filter((name) => actions[name].auth && !covered.has(name)),
      ["get_channels", "get_unmatched_sales"],
    );
    for (const [action, fields] of saleCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [404, "Unmatched sale not found"], action);
    }
    const unmatched = await act(env, w.outsider.key, "get_unmatched_sales");
    assert.deepEqual(unmatched.body, { unmatched_sales: [], next_cursor: null });
    for (const [action, fields] of leadCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Lead not accessible"], action);
    }
    for (const [action, fields] of channelCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Channel not accessible"], action);
    }
    for (const [action, fields] of purchaseCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Purchase not accessible"], action);
    }
    for (const [action, fields] of payoutCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Payout not accessible"], action);
    }
    const channels = await act(env, w.outsider.key, "get_channels");
    assert.deepEqual(channels.body, { channels: [] });
    const [writes] = await sql`
      select (select count(*)::int from public.events where channels_id = ${w.channelId}) as events,
        (select count(*)::int from public.leads where channels_id = ${w.channelId}) as leads,
        (select count(*)::int from public.refunds where purchases_id = ${purchaseId}) as refunds,
        (select count(*)::int from public.payouts where channels_id = ${w.channelId} and status = 'pending') as payouts,
        (select count(*)::int from public.reward_events where channels_id = ${w.channelId} and status = 'pending')
          as undecided,
        (select count(*)::int from public.stripe_connections where channels_id = ${w.channelId}) as connections,
        (select count(*)::int from public.stripe_sales where id = ${sale.id} and status = 'unmatched') as unmatched`;
    assert.deepEqual(
      { ...writes },
      { events: 1, leads: 1, refunds: 0, payouts: 1, undecided: 1, connections: 1, unmatched: 1 },
      "only the receiver's own purchase event and payout",
    );
  }
});
