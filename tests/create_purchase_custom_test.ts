import assert from "node:assert/strict";
import { act, errorBody, ops, statusAndBody, testEnv, world, writtenFor } from "./helpers.ts";

Deno.test("create_purchase_custom", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("records a free-text purchase with name, event and rewards", async () => {
      const w = await world(sql);
      const pct = await ops.createTrigger(sql, {
        channel: w.channelId,
        on: "purchase",
        reward: "percentage",
        amount: "20",
      });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "4" });
      const reply = await act(env, w.receiving.key, "create_purchase_custom", {
        lead_id: w.leadId,
        product_name: "Consulting",
        product_description: "Two days",
        purchase_amount: "1000.05",
        date: "2025-06-01T12:00:00+02:00",
        trigger_ids: [pct.id],
        product_id: w.productId,
        description: "ignored",
      });
      assert.equal(reply.status, 200, reply.text);
      const purchase = reply.body.purchase as Record<string, unknown>;
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
      assert.deepEqual(
        [purchase.products_id, purchase.purchase_amount, purchase.date, purchase.description, purchase.name],
        [null, 1000.05, "2025-06-01T10:00:00.000Z", "Two days", "Consulting"],
      );
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 1 });
      const [reward] = await sql`select amount::text from public.reward_events where leads_id = ${w.leadId}`;
      assert.equal(reward.amount, "200.01");
    });

    await t.step("without product_name the name is null but present", async () => {
      const w = await world(sql);
      const reply = await act(env, w.receiving.key, "create_purchase_custom", { lead_id: w.leadId });
      assert.equal(reply.status, 200);
      assert.equal((reply.body.purchase as Record<string, unknown>).name, null);
      assert.ok(Object.hasOwn(reply.body.purchase as object, "name"));
    });

    await t.step("errors as create_purchase, without the product error", async () => {
      const w = await world(sql);
      const missing = await act(env, w.receiving.key, "create_purchase_custom", { product_name: "x" });
      assert.deepEqual(statusAndBody(missing), errorBody(missing, 400, "lead_id required", "invalid_request"));
      const outsider = await act(env, w.outsider.key, "create_purchase_custom", { lead_id: w.leadId });
      assert.deepEqual(statusAndBody(outsider), errorBody(outsider, 403, "Lead not accessible", "lead_not_accessible"));
      const badTrigger = crypto.randomUUID();
      const trigger = await act(env, w.receiving.key, "create_purchase_custom", {
        lead_id: w.leadId,
        trigger_ids: [badTrigger],
      });
      assert.deepEqual(
        statusAndBody(trigger),
        errorBody(trigger, 400, `Trigger not found or not active on this channel: ${badTrigger}`, "trigger_not_found"),
      );
      const badKey = await act(env, "sk_nope", "create_purchase_custom", {});
      assert.deepEqual(statusAndBody(badKey), errorBody(badKey, 401, "Invalid API key", "invalid_api_key"));
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });
  } finally {
    await env.close();
  }
});
