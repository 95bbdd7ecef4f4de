import assert from "node:assert/strict";
import { act, testEnv, world } from "./helpers.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";

Deno.test("tenant isolation: an outsider gets 403 for every action on every id of a channel it is not in", async () => {
  const env = testEnv();
  const { sql } = env;
  try {
    const w = await world(sql);
    const [lead] = await sql`select legacy_id from public.leads where id = ${w.leadId}`;
    const leadCalls: [string, Record<string, unknown>][] = [
      ["get_lead_by_id", { lead_id: w.leadId }],
      ["get_lead_by_legacy_id", { legacy_id: Number(lead.legacy_id) }],
      ["update_lead", { lead_id: w.leadId, first_name: "x" }],
      ["update_status", { lead_id: w.leadId, status: "New" }],
      ["update_status_id", { lead_id: w.leadId, status_id: w.statusId }],
      ["create_purchase", { lead_id: w.leadId }],
      ["create_purchase_custom", { lead_id: w.leadId }],
    ];
    const channelCalls: [string, Record<string, unknown>][] = [
      ["get_leads", { channel_id: w.channelId }],
      ["create_lead", { channel_id: w.channelId }],
    ];
    const covered = new Set([...leadCalls, ...channelCalls].map(([action]) => action));
    // Every keyed action that takes an id is in one of the lists above.
    assert.deepEqual(
      Object.keys(actions).filter((name) => actions[name].auth && !covered.has(name)),
      ["get_channels"],
    );
    for (const [action, fields] of leadCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Lead not accessible"], action);
    }
    for (const [action, fields] of channelCalls) {
      const reply = await act(env, w.outsider.key, action, fields);
      assert.deepEqual([reply.status, reply.body.error], [403, "Channel not accessible"], action);
    }
    const channels = await act(env, w.outsider.key, "get_channels");
    assert.deepEqual(channels.body, { channels: [] });
    const [writes] = await sql`
      select (select count(*)::int from public.events where channels_id = ${w.channelId}) as events,
        (select count(*)::int from public.leads where channels_id = ${w.channelId}) as leads`;
    assert.deepEqual({ ...writes }, { events: 0, leads: 1 });
  } finally {
    await env.close();
  }
});
