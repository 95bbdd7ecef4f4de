import assert from "node:assert/strict";
import { act, errorBody, leadEffects, ops, statusAndBody, testEnv, world } from "./helpers.ts";

Deno.test("update_lead", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("updates only the fields sent, clears those sent as null, and upserts properties", async () => {
      const w = await world(sql);
      await sql`update public.channels set webhook_new_lead = 'http://127.0.0.1:1/n',
        webhook_status_update = 'http://127.0.0.1:1/s' where id = ${w.channelId}`;
      await ops.createTrigger(sql, { channel: w.channelId, on: "new_lead", reward: "fixed", amount: "1" });
      const size = await ops.createProperty(sql, { channel: w.channelId, name: "Size" });
      const tier = await ops.createProperty(sql, { channel: w.channelId, name: "Tier" });
      await sql`update public.leads set first_name = 'Old', phone = '123', notes = 'keep' where id = ${w.leadId}`;
      await sql`insert into public.property_values (leads_id, property_definitions_id, value)
        values (${w.leadId}, ${size.id as string}, 'S')`;

      const reply = await act(env, w.receiving.key, "update_lead", {
        lead_id: w.leadId,
        first_name: "New",
        phone: null,
        referring_employee: "carol",
        properties: [
          { property_definitions_id: size.id, value: "L" },
          { property_definitions_id: tier.id, value: 2 },
        ],
      });
      assert.equal(reply.status, 200, reply.text);
      const lead = reply.body.lead as Record<string, unknown>;
      assert.deepEqual(
        [lead.first_name, lead.phone, lead.notes, lead.email, lead.employee, lead.referring_employee],
        ["New", null, "keep", "lead@example.com", "carol", "carol"],
      );
      assert.deepEqual(
        (lead.property_values as { property_definitions_id: string; value: string }[]).map((v) => [
          v.property_definitions_id,
          v.value,
        ]),
        [[size.id, "L"], [tier.id, "2"]],
      );
      const [row] = await sql`select first_name, phone, notes, employee from public.leads where id = ${w.leadId}`;
      assert.deepEqual({ ...row }, { first_name: "New", phone: null, notes: "keep", employee: "carol" });
      const [values] = await sql`select count(*)::int as n from public.property_values where leads_id = ${w.leadId}`;
      assert.equal(values.n, 2, "upserted, not duplicated");
      assert.deepEqual(await leadEffects(sql, w.leadId), {
        new_lead_events: 0,
        status_events: 0,
        reward_events: 0,
        webhooks: 0,
      });
    });

    await t.step("properties alone are an update", async () => {
      const w = await world(sql);
      const size = await ops.createProperty(sql, { channel: w.channelId, name: "Size" });
      const reply = await act(env, w.partner.key, "update_lead", {
        lead_id: w.leadId,
        properties: [{ property_definitions_id: size.id, value: false }],
      });
      assert.equal(reply.status, 200);
      const [row] = await sql`select value from public.property_values where leads_id = ${w.leadId}`;
      assert.equal(row.value, "false");
    });

    await t.step("nothing to update, a missing lead id, or an invalid field answers 400", async () => {
      const w = await world(sql);
      const cases: [Record<string, unknown>, string][] = [
        [{ lead_id: w.leadId }, "No fields to update"],
        [{ lead_id: w.leadId, properties: [] }, "No fields to update"],
        [{ lead_id: w.leadId, unknown_field: "x" }, "No fields to update"],
        [{ first_name: "x" }, "lead_id required"],
        [{ lead_id: "x", first_name: "x" }, "lead_id must be a UUID"],
        [{ lead_id: w.leadId, notes: ["x"] }, "notes must be a string"],
      ];
      for (const [fields, message] of cases) {
        const reply = await act(env, w.receiving.key, "update_lead", fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
    });

    await t.step("a bad property definition answers 400 and leaves the lead as it was", async () => {
      const w = await world(sql);
      const other = await world(sql);
      const foreign = await ops.createProperty(sql, { channel: other.channelId, name: "Theirs" });
      const reply = await act(env, w.receiving.key, "update_lead", {
        lead_id: w.leadId,
        first_name: "Changed",
        properties: [{ property_definitions_id: foreign.id, value: "x" }],
      });
      assert.deepEqual(
        statusAndBody(reply),
        errorBody(
          reply,
          400,
          `Property definition not found on this channel: ${foreign.id}`,
          "property_definition_not_found",
        ),
      );
      const [row] = await sql`select first_name from public.leads where id = ${w.leadId}`;
      assert.equal(row.first_name, null);
    });

    await t.step("an outsider or an unknown lead answers 403 and changes nothing", async () => {
      const w = await world(sql);
      for (const [key, lead] of [[w.outsider.key, w.leadId], [w.receiving.key, crypto.randomUUID()]]) {
        const reply = await act(env, key, "update_lead", { lead_id: lead, first_name: "Hijack" });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 403, "Lead not accessible", "lead_not_accessible"));
      }
      const [row] = await sql`select first_name from public.leads where id = ${w.leadId}`;
      assert.equal(row.first_name, null);
    });
  } finally {
    await env.close();
  }
});
