import assert from "node:assert/strict";
import { act, errorBody, leadEffects, ops, statusAndBody, testEnv, world } from "./helpers.ts";

Deno.test("update_status and update_status_id", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("moves the lead, answers the short lead and records old and new status on the event", async () => {
      const w = await world(sql);
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      const reported = crypto.randomUUID();
      const reply = await act(env, w.receiving.key, "update_status", {
        lead_id: w.leadId,
        status: "Won",
        old_status_id: reported,
      });
      assert.equal(reply.status, 200, reply.text);
      const [lead] = await sql`select * from public.leads where id = ${w.leadId}`;
      assert.deepEqual(reply.body, {
        lead: {
          id: w.leadId,
          created_at: lead.created_at.toISOString(),
          email: "lead@example.com",
          first_name: null,
          last_name: null,
          status: "Won",
          lead_status_id: won.id,
          channels_id: w.channelId,
        },
      });
      assert.equal(lead.lead_status_id, won.id);
      const events = await sql`select category, companies_id, data from public.events where leads_id = ${w.leadId}`;
      assert.deepEqual(events.map((e) => ({ ...e })), [{
        category: "status_change",
        companies_id: w.receiving.id,
        data: {
          old_status_id: w.statusId,
          old_status: "New",
          new_status_id: won.id,
          new_status: "Won",
          reported_old_status_id: reported,
        },
      }]);
    });

    await t.step("update_status_id does the same by id", async () => {
      const w = await world(sql);
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      const reply = await act(env, w.partner.key, "update_status_id", { lead_id: w.leadId, status_id: won.id });
      assert.equal(reply.status, 200);
      assert.deepEqual(
        [
          (reply.body.lead as Record<string, unknown>).status,
          (reply.body.lead as Record<string, unknown>).lead_status_id,
        ],
        ["Won", won.id],
      );
      assert.equal((await leadEffects(sql, w.leadId)).status_events, 1);
    });

    await t.step("setting the current status again is a 200 no-op that writes nothing", async () => {
      const w = await world(sql);
      await sql`update public.channels set webhook_status_update = 'http://127.0.0.1:1/s' where id = ${w.channelId}`;
      await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "status_change",
        statusId: w.statusId,
        reward: "fixed",
        amount: "9",
      });
      for (
        const [action, fields] of [["update_status", { status: "New" }], ["update_status_id", {
          status_id: w.statusId,
        }]]
      ) {
        const reply = await act(env, w.receiving.key, action as string, { lead_id: w.leadId, ...fields as object });
        assert.equal(reply.status, 200);
        assert.equal((reply.body.lead as Record<string, unknown>).status, "New");
      }
      assert.deepEqual(await leadEffects(sql, w.leadId), {
        new_lead_events: 0,
        status_events: 0,
        reward_events: 0,
        webhooks: 0,
      });
    });

    await t.step(
      "status triggers fire once per trigger and lead, only for the new status of this channel",
      async () => {
        const w = await world(sql);
        const other = await world(sql);
        const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
        const lost = await ops.createStatus(sql, { channel: w.channelId, name: "Lost" });
        const otherWon = await ops.createStatus(sql, { channel: other.channelId, name: "Won" });
        const fires = await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "status_change",
          statusId: won.id as string,
          reward: "fixed",
          amount: "50",
        });
        await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "status_change",
          statusId: won.id as string,
          reward: "percentage",
          amount: "10",
        });
        await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "status_change",
          statusId: won.id as string,
          reward: "fixed",
          amount: "1",
          inactive: true,
        });
        await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "status_change",
          statusId: lost.id as string,
          reward: "fixed",
          amount: "2",
        });
        await ops.createTrigger(sql, {
          channel: other.channelId,
          on: "status_change",
          statusId: otherWon.id as string,
          reward: "fixed",
          amount: "3",
        });
        for (const status of ["Won", "New", "Won", "Won"]) {
          const reply = await act(env, w.receiving.key, "update_status", { lead_id: w.leadId, status });
          assert.equal(reply.status, 200);
        }
        const rewards =
          await sql`select reward_triggers_id, amount::text from public.reward_events where leads_id = ${w.leadId}`;
        assert.deepEqual(rewards.map((r) => [r.reward_triggers_id, r.amount]), [[fires.id, "50.00"]]);
        assert.equal((await leadEffects(sql, w.leadId)).status_events, 3, "Won, New, Won; the last Won is a no-op");
      },
    );

    await t.step("concurrent moves to the same status change it once and pay once", async () => {
      const w = await world(sql);
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "status_change",
        statusId: won.id as string,
        reward: "fixed",
        amount: "5",
      });
      const replies = await Promise.all(
        Array.from(
          { length: 10 },
          () => act(env, w.receiving.key, "update_status", { lead_id: w.leadId, status: "Won" }),
        ),
      );
      assert.deepEqual(replies.map((r) => r.status), Array(10).fill(200));
      const effects = await leadEffects(sql, w.leadId);
      assert.deepEqual([effects.status_events, effects.reward_events], [1, 1]);
    });

    await t.step("a channel with webhook_status_update queues a lead.status_updated delivery", async () => {
      const w = await world(sql);
      await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      await sql`update public.channels set webhook_status_update = 'http://127.0.0.1:1/s' where id = ${w.channelId}`;
      await act(env, w.receiving.key, "update_status", { lead_id: w.leadId, status: "Won" });
      const [event] = await sql`select id, created_at from public.events where leads_id = ${w.leadId}`;
      const [delivery] = await sql`select * from public.webhook_deliveries where events_id = ${event.id}`;
      // get_lead_by_id answers the Lead plus "lead_status"; webhooks carry the Lead itself.
      const { lead_status: _, ...lead } = (await act(env, w.receiving.key, "get_lead_by_id", { lead_id: w.leadId }))
        .body.lead as Record<string, unknown>;
      assert.deepEqual([delivery.type, delivery.url, delivery.status], [
        "lead.status_updated",
        "http://127.0.0.1:1/s",
        "pending",
      ]);
      assert.deepEqual(delivery.payload, {
        type: "lead.status_updated",
        id: event.id,
        created_at: event.created_at.toISOString(),
        data: { lead, status: "Won" },
      });
    });

    await t.step("unknown statuses answer 404, including a status id of another channel", async () => {
      const w = await world(sql);
      const other = await world(sql);
      const byName = await act(env, w.receiving.key, "update_status", { lead_id: w.leadId, status: "Nope" });
      assert.deepEqual(
        statusAndBody(byName),
        errorBody(byName, 404, 'Status "Nope" not found for this channel', "status_not_found"),
      );
      for (const statusId of [other.statusId, crypto.randomUUID()]) {
        const reply = await act(env, w.receiving.key, "update_status_id", { lead_id: w.leadId, status_id: statusId });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 404, "Status ID not found", "status_not_found"));
      }
      assert.equal((await leadEffects(sql, w.leadId)).status_events, 0);
    });

    await t.step("missing fields answer 400 and inaccessible leads 403", async () => {
      const w = await world(sql);
      const cases: [string, Record<string, unknown>, string][] = [
        ["update_status", { lead_id: w.leadId }, "lead_id and status required"],
        ["update_status", { status: "New" }, "lead_id and status required"],
        ["update_status", { lead_id: w.leadId, status: "" }, "lead_id and status required"],
        ["update_status", { lead_id: "x", status: "New" }, "lead_id must be a UUID"],
        ["update_status_id", { lead_id: w.leadId }, "lead_id and status_id required"],
        ["update_status_id", { status_id: w.statusId }, "lead_id and status_id required"],
        ["update_status_id", { lead_id: w.leadId, status_id: "x" }, "status_id must be a UUID"],
        [
          "update_status_id",
          { lead_id: w.leadId, status_id: w.statusId, old_status_id: 1 },
          "old_status_id must be a UUID",
        ],
      ];
      for (const [action, fields, message] of cases) {
        const reply = await act(env, w.receiving.key, action, fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
      for (
        const [action, fields] of [["update_status", { status: "New" }], ["update_status_id", {
          status_id: w.statusId,
        }]]
      ) {
        const reply = await act(env, w.outsider.key, action as string, { lead_id: w.leadId, ...fields as object });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 403, "Lead not accessible", "lead_not_accessible"));
      }
    });
  } finally {
    await env.close();
  }
});
