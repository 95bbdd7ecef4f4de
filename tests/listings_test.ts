import assert from "node:assert/strict";
import { act, errorBody, ops, statusAndBody, type TestEnv, testEnv, world } from "./helpers.ts";

async function pages(
  env: TestEnv,
  key: string,
  action: string,
  fields: Record<string, unknown>,
  listKey: string,
  limit = 10,
) {
  const ids: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const reply = await act(env, key, action, { ...fields, limit, ...(cursor ? { cursor } : {}) });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(Object.keys(reply.body), [listKey, "next_cursor"]);
    const items = reply.body[listKey] as { id: string }[];
    sizes.push(items.length);
    ids.push(...items.map((i) => i.id));
    cursor = reply.body.next_cursor as string | null;
  } while (cursor);
  return { ids, sizes };
}

Deno.test("get_purchases and get_reward_events", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    const w = await world(sql);
    const other = await ops.createLead(sql, { channel: w.channelId });
    await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "1" });
    for (let i = 0; i < 25; i++) {
      const lead = i % 5 === 0 ? other.id : w.leadId;
      const reply = await act(env, w.receiving.key, "create_purchase_custom", {
        lead_id: lead,
        product_name: `P${i}`,
        purchase_amount: i,
      });
      assert.equal(reply.status, 200);
    }

    await t.step("get_purchases pages a channel's and a lead's purchases newest first, each once", async () => {
      const expectedChannel = (await sql`select id from public.purchases where channels_id = ${w.channelId}
        order by created_at desc, id desc`).map((r) => r.id);
      const byChannel = await pages(env, w.partner.key, "get_purchases", { channel_id: w.channelId }, "purchases");
      assert.deepEqual(byChannel.sizes, [10, 10, 5]);
      assert.deepEqual(byChannel.ids, expectedChannel);
      const expectedLead = (await sql`select id from public.purchases where leads_id = ${other.id as string}
        order by created_at desc, id desc`).map((r) => r.id);
      const byLead = await pages(env, w.referring.key, "get_purchases", { lead_id: other.id }, "purchases");
      assert.deepEqual(byLead.ids, expectedLead);
      assert.equal(byLead.ids.length, 5);
      const first = await act(env, w.receiving.key, "get_purchases", { lead_id: other.id, limit: 1 });
      const purchase = (first.body.purchases as Record<string, unknown>[])[0];
      assert.deepEqual(Object.keys(purchase), [
        "id",
        "created_at",
        "leads_id",
        "products_id",
        "purchase_amount",
        "date",
        "description",
        "name",
      ]);
      assert.equal(purchase.name, "P20");
    });

    await t.step("get_reward_events pages a channel's rewards and filters by lead and purchase", async () => {
      const expected = (await sql`select id from public.reward_events where channels_id = ${w.channelId}
        order by created_at desc, id desc`).map((r) => r.id);
      const all = await pages(env, w.referring.key, "get_reward_events", { channel_id: w.channelId }, "reward_events");
      assert.deepEqual(all.sizes, [10, 10, 5]);
      assert.deepEqual(all.ids, expected);
      const lead = await pages(env, w.referring.key, "get_reward_events", {
        channel_id: w.channelId,
        lead_id: other.id,
      }, "reward_events");
      assert.equal(lead.ids.length, 5);
      const [purchase] = await sql`select id from public.purchases where leads_id = ${w.leadId} limit 1`;
      const one = await act(env, w.referring.key, "get_reward_events", {
        channel_id: w.channelId,
        purchase_id: purchase.id,
      });
      const events = one.body.reward_events as Record<string, unknown>[];
      assert.deepEqual(events.map((e) => [e.purchases_id, e.amount, e.reward_type]), [[purchase.id, 1, "fixed"]]);
    });

    await t.step("every combination of filters pages its own rows in order, across pages", async () => {
      // A refund adds a reversal, so one purchase has two reward events.
      const [refunded] = await sql`select id from public.purchases where leads_id = ${w.leadId}
        and purchase_amount > 0 order by created_at limit 1`;
      const refund = await act(env, w.receiving.key, "refund_purchase", { purchase_id: refunded.id });
      assert.equal(refund.status, 200, refund.text);
      const ids = async (table: string, where: string, ...values: string[]) =>
        (await sql.unsafe(`select id from public.${table} where ${where} order by created_at desc, id desc`, values))
          .map((r) => r.id);
      const cases: [string, Record<string, unknown>, string, string[], number[]][] = [
        [
          "get_reward_events",
          { channel_id: w.channelId, lead_id: w.leadId },
          "reward_events",
          await ids("reward_events", "channels_id = $1 and leads_id = $2", w.channelId, w.leadId),
          [10, 10, 1],
        ],
        [
          "get_reward_events",
          { channel_id: w.channelId, purchase_id: refunded.id },
          "reward_events",
          await ids("reward_events", "purchases_id = $1", refunded.id),
          [2],
        ],
        [
          "get_reward_events",
          { channel_id: w.channelId, purchase_id: refunded.id, lead_id: w.leadId },
          "reward_events",
          await ids("reward_events", "purchases_id = $1", refunded.id),
          [2],
        ],
        [
          "get_reward_events",
          { channel_id: w.channelId, purchase_id: refunded.id, lead_id: other.id },
          "reward_events",
          [],
          [0],
        ],
        [
          "get_purchases",
          { channel_id: w.channelId, lead_id: w.leadId },
          "purchases",
          await ids("purchases", "leads_id = $1", w.leadId),
          [10, 10],
        ],
      ];
      for (const [action, fields, listKey, expected, sizes] of cases) {
        const got = await pages(env, w.referring.key, action, fields, listKey);
        assert.deepEqual([got.ids, got.sizes], [expected, sizes], JSON.stringify(fields));
      }
      const byOne = await pages(
        env,
        w.referring.key,
        "get_reward_events",
        {
          channel_id: w.channelId,
          purchase_id: refunded.id,
        },
        "reward_events",
        1,
      );
      assert.deepEqual([byOne.ids, byOne.sizes], [await ids("reward_events", "purchases_id = $1", refunded.id), [
        1,
        1,
      ]]);
    });

    await t.step("an outsider gets 403, and filters never reach into another channel", async () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ["get_purchases", { channel_id: w.channelId }, "Channel not accessible"],
        ["get_purchases", { lead_id: w.leadId }, "Lead not accessible"],
        ["get_reward_events", { channel_id: w.channelId }, "Channel not accessible"],
      ];
      for (const [action, fields, error] of cases) {
        const reply = await act(env, w.outsider.key, action, fields);
        assert.deepEqual([reply.status, reply.body.error], [403, error], action);
      }
      const mine = await world(sql);
      const filtered = await act(env, mine.receiving.key, "get_reward_events", {
        channel_id: mine.channelId,
        lead_id: w.leadId,
      });
      assert.deepEqual(filtered.body, { reward_events: [], next_cursor: null });
      const mixed = await act(env, mine.receiving.key, "get_purchases", {
        channel_id: mine.channelId,
        lead_id: w.leadId,
      });
      assert.equal(mixed.status, 403);
    });

    await t.step("field errors", async () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ["get_purchases", {}, "lead_id or channel_id required"],
        ["get_purchases", { channel_id: w.channelId, limit: 500 }, "limit must be an integer between 1 and 100"],
        ["get_purchases", { channel_id: w.channelId, cursor: "bm9wZQ" }, "cursor is invalid"],
        ["get_reward_events", {}, "channel_id required"],
        ["get_reward_events", { channel_id: w.channelId, purchase_id: "x" }, "purchase_id must be a UUID"],
      ];
      for (const [action, fields, message] of cases) {
        const reply = await act(env, w.receiving.key, action, fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
    });
  } finally {
    await env.close();
  }
});
