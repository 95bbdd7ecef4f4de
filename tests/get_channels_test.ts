import assert from "node:assert/strict";
import { act, errorBody, ops, party, statusAndBody, testEnv, world } from "./helpers.ts";

Deno.test("get_channels", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("lists the channels of the company with ordered definitions and statuses", async () => {
      const w = await world(sql, { currency: "EUR" });
      // Created out of order, so the listing must sort by "order".
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won", order: 5, color: "#0f0" });
      const qualified = await ops.createStatus(sql, { channel: w.channelId, name: "Qualified", order: 2 });
      const budget = await ops.createProperty(sql, { channel: w.channelId, name: "Budget", type: "number" });
      const size = await ops.createProperty(sql, { channel: w.channelId, name: "Size", type: "select" });
      const retired = await ops.createProperty(sql, { channel: w.channelId, name: "Old" });
      await sql`update public.property_definitions set active = false where id = ${retired.id as string}`;
      await sql`update public.property_definitions set "order" = 9 where id = ${budget.id as string}`;

      const reply = await act(env, w.partner.key, "get_channels");
      assert.equal(reply.status, 200);
      assert.deepEqual(Object.keys(reply.body), ["channels"]);
      const channels = reply.body.channels as Record<string, unknown>[];
      assert.equal(channels.length, 1);
      const [channel] = await sql`select * from public.channels where id = ${w.channelId}`;
      assert.deepEqual(channels[0], {
        id: w.channelId,
        title: "Channel",
        created_at: channel.created_at.toISOString(),
        referring_id: w.referring.id,
        receiving_id: w.receiving.id,
        creator: w.creator.id,
        partner: w.partner.id,
        currency: "EUR",
        no_auth_api: false,
        property_definitions: [
          { id: size.id, name: "Size", type: "select", order: 1, visible: true },
          { id: budget.id, name: "Budget", type: "number", order: 9, visible: true },
        ],
        lead_status: [
          { id: w.statusId, status: "New", order: 0, visible: true, color: null },
          { id: qualified.id, status: "Qualified", order: 2, visible: true, color: null },
          { id: won.id, status: "Won", order: 5, visible: true, color: "#0f0" },
        ],
      });
    });

    await t.step("every role sees the channel; an outsider sees none of it", async () => {
      const w = await world(sql);
      for (const role of [w.creator, w.referring, w.receiving, w.partner]) {
        const reply = await act(env, role.key, "get_channels");
        assert.deepEqual((reply.body.channels as { id: string }[]).map((c) => c.id), [w.channelId]);
      }
      const outsider = await act(env, w.outsider.key, "get_channels");
      assert.deepEqual(statusAndBody(outsider), { status: 200, body: { channels: [] } });
    });

    await t.step("a company in several channels gets all of them, oldest first", async () => {
      const a = await party(sql, "Multi");
      const b = await party(sql, "Other");
      const ids = [];
      for (const title of ["First", "Second", "Third"]) {
        ids.push((await ops.createChannel(sql, { title, creator: b.id, referring: a.id, receiving: b.id })).id);
      }
      const reply = await act(env, a.key, "get_channels");
      assert.deepEqual((reply.body.channels as { id: string }[]).map((c) => c.id), ids);
    });

    await t.step("a bad key answers 401", async () => {
      const reply = await act(env, "sk_nope", "get_channels");
      assert.deepEqual(statusAndBody(reply), errorBody(reply, 401, "Invalid API key", "invalid_api_key"));
    });
  } finally {
    await env.close();
  }
});
