import assert from "node:assert/strict";
import { act, errorBody, LEAD_KEYS, leadEffects, ops, statusAndBody, testEnv, world } from "./helpers.ts";

Deno.test("create_lead and lead_external", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("create_lead puts the lead in the channel's first status and writes its event", async () => {
      const w = await world(sql);
      // Created later but ordered first: "first" means the lowest order.
      const intake = await ops.createStatus(sql, { channel: w.channelId, name: "Intake", order: -1 });
      const reply = await act(env, w.referring.key, "create_lead", { channel_id: w.channelId, email: "n@example.com" });
      assert.equal(reply.status, 200, reply.text);
      const lead = reply.body.lead as Record<string, unknown>;
      assert.deepEqual(Object.keys(lead), LEAD_KEYS);
      assert.deepEqual([lead.lead_status_id, lead.status, lead.email, lead.phone, lead.property_values], [
        intake.id,
        "Intake",
        "n@example.com",
        null,
        [],
      ]);
      const events = await sql`select * from public.events where leads_id = ${lead.id as string}`;
      assert.deepEqual(events.map((e) => [e.category, e.channels_id, e.companies_id, e.purchases_id]), [
        ["new_lead", w.channelId, w.referring.id, null],
      ]);
    });

    await t.step(
      "new_lead triggers pay fixed rewards once; percentage, inactive and other kinds pay nothing",
      async () => {
        const w = await world(sql);
        const other = await world(sql);
        const fixed = await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "new_lead",
          reward: "fixed",
          amount: "5.00",
        });
        await ops.createTrigger(sql, { channel: w.channelId, on: "new_lead", reward: "percentage", amount: "10" });
        await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "new_lead",
          reward: "fixed",
          amount: "6",
          inactive: true,
        });
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "7" });
        await ops.createTrigger(sql, { channel: other.channelId, on: "new_lead", reward: "fixed", amount: "8" });
        const reply = await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
        const leadId = (reply.body.lead as { id: string }).id;
        const rewards = await sql`
        select r.reward_triggers_id, r.amount::text, r.beneficiary_companies_id, r.purchases_id, e.category
        from public.reward_events r join public.events e on e.id = r.events_id where r.leads_id = ${leadId}`;
        assert.deepEqual(rewards.map((r) => ({ ...r })), [{
          reward_triggers_id: fixed.id,
          amount: "5.00",
          beneficiary_companies_id: w.referring.id,
          purchases_id: null,
          category: "new_lead",
        }]);
      },
    );

    await t.step("properties are stored as text: numbers, booleans and objects as JSON", async () => {
      const w = await world(sql);
      const defs = await Promise.all(
        ["a", "b", "c", "d", "e"].map((name) => ops.createProperty(sql, { channel: w.channelId, name })),
      );
      const values = ["plain", 42.5, true, { plan: "gold", seats: [1, 2] }, ""];
      const reply = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        properties: defs.map((d, i) => ({ property_definitions_id: d.id, value: values[i] })),
      });
      assert.equal(reply.status, 200, reply.text);
      const rows = await sql`
        select d.name, v.value from public.property_values v join public.property_definitions d
        on d.id = v.property_definitions_id where v.leads_id = ${
        (reply.body.lead as { id: string }).id
      } order by d.name`;
      assert.deepEqual(rows.map((r) => [r.name, r.value]), [
        ["a", "plain"],
        ["b", "42.5"],
        ["c", "true"],
        ["d", '{"plan":"gold","seats":[1,2]}'],
        ["e", ""],
      ]);
    });

    await t.step(
      "a number property takes a JSON number or a number string; anything else answers 400 naming it",
      async () => {
        const w = await world(sql);
        await sql`update public.channels set no_auth_api = true where id = ${w.channelId}`;
        const budget = await ops.createProperty(sql, { channel: w.channelId, name: "Budget", type: "number" });
        const note = await ops.createProperty(sql, { channel: w.channelId, name: "Note" });
        const counts = async () => ({
          ...(await sql`select
              (select count(*)::int from public.leads where channels_id = ${w.channelId}) as leads,
              (select count(*)::int from public.events where channels_id = ${w.channelId}) as events,
              (select string_agg(v.value, ',' order by v.value) from public.property_values v
                join public.leads l on l.id = v.leads_id where l.channels_id = ${w.channelId}) as values`)[0],
        });
        const writes = (value: unknown): [string | undefined, string, Record<string, unknown>][] => {
          const properties = [{ property_definitions_id: note.id, value: "abc" }, {
            property_definitions_id: budget.id,
            value,
          }];
          return [
            [w.receiving.key, "create_lead", { channel_id: w.channelId, properties }],
            [undefined, "lead_external", { channel_id: w.channelId, properties }],
            [w.receiving.key, "update_lead", { lead_id: w.leadId, properties }],
          ];
        };
        const before = await counts();
        for (const value of ["abc", { amount: 5 }, [1], true, "", " 5", "1,5", "+5", "05", "5.", "0x10", "NaN"]) {
          for (const [key, action, fields] of writes(value)) {
            const reply = await act(env, key, action, fields);
            assert.deepEqual(
              statusAndBody(reply),
              errorBody(reply, 400, `Property value must be a number: ${budget.id}`, "invalid_property_value"),
              `${action} ${JSON.stringify(value)}`,
            );
          }
        }
        assert.deepEqual(await counts(), before);
        for (const value of [25000, "25000", -1.5, "2e3", "0.000000000000000000001", 1.5e-7]) {
          for (const [key, action, fields] of writes(value)) {
            const reply = await act(env, key, action, fields);
            assert.equal(reply.status, 200, `${action} ${JSON.stringify(value)}: ${reply.text}`);
            const stored =
              (reply.body.lead as { property_values: { property_definitions_id: string; value: string }[] })
                .property_values.find((v) => v.property_definitions_id === budget.id)!.value;
            assert.equal(stored, typeof value === "string" ? value : JSON.stringify(value));
          }
        }
      },
    );

    await t.step(
      "a property definition that is inactive or of another channel answers 400 and writes nothing",
      async () => {
        const w = await world(sql);
        const other = await world(sql);
        const good = await ops.createProperty(sql, { channel: w.channelId, name: "good" });
        const inactive = await ops.createProperty(sql, { channel: w.channelId, name: "old" });
        await sql`update public.property_definitions set active = false where id = ${inactive.id as string}`;
        const foreign = await ops.createProperty(sql, { channel: other.channelId, name: "theirs" });
        for (const bad of [inactive.id as string, foreign.id as string, crypto.randomUUID()]) {
          const before = await sql`select count(*)::int as n from public.leads where channels_id = ${w.channelId}`;
          const reply = await act(env, w.receiving.key, "create_lead", {
            channel_id: w.channelId,
            properties: [{ property_definitions_id: good.id, value: "x" }, {
              property_definitions_id: bad,
              value: "y",
            }],
          });
          assert.deepEqual(
            statusAndBody(reply),
            errorBody(
              reply,
              400,
              `Property definition not found on this channel: ${bad}`,
              "property_definition_not_found",
            ),
          );
          const after = await sql`select count(*)::int as n from public.leads where channels_id = ${w.channelId}`;
          assert.equal(after[0].n, before[0].n);
        }
        const [events] = await sql`select count(*)::int as n from public.events where channels_id = ${w.channelId}`;
        assert.equal(events.n, 0);
      },
    );

    await t.step("create_lead field and access errors", async () => {
      const w = await world(sql);
      const cases: [Record<string, unknown>, string][] = [
        [{}, "channel_id required"],
        [{ channel_id: "abc" }, "channel_id must be a UUID"],
        [{ channel_id: w.channelId, email: true }, "email must be a string"],
        [{ channel_id: w.channelId, properties: {} }, "properties must be an array"],
        [{ channel_id: w.channelId, properties: ["x"] }, "properties[0] must be an object"],
        [
          { channel_id: w.channelId, properties: [{ property_definitions_id: "x", value: 1 }] },
          "properties[0].property_definitions_id must be a UUID",
        ],
        [
          { channel_id: w.channelId, properties: [{ property_definitions_id: w.channelId, value: null }] },
          "properties[0].value required",
        ],
      ];
      for (const [fields, message] of cases) {
        const reply = await act(env, w.receiving.key, "create_lead", fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
      for (const [key, channel] of [[w.outsider.key, w.channelId], [w.receiving.key, crypto.randomUUID()]]) {
        const reply = await act(env, key, "create_lead", { channel_id: channel });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 403, "Channel not accessible", "channel_not_accessible"),
        );
      }
      const [n] = await sql`select count(*)::int as n from public.leads where channels_id = ${w.channelId}`;
      assert.equal(n.n, 1, "only the world's own lead");
    });

    await t.step("employee and referring_employee are one field; employee wins", async () => {
      const w = await world(sql);
      const both = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        employee: "e1",
        referring_employee: "e2",
      });
      assert.deepEqual(
        [
          (both.body.lead as Record<string, unknown>).employee,
          (both.body.lead as Record<string, unknown>).referring_employee,
        ],
        ["e1", "e1"],
      );
    });

    await t.step("create_lead queues a lead.created delivery only when the channel has a webhook", async () => {
      const w = await world(sql);
      const plain = await act(env, w.receiving.key, "create_lead", { channel_id: w.channelId });
      assert.equal((await leadEffects(sql, (plain.body.lead as { id: string }).id)).webhooks, 0);
      await sql`update public.channels set webhook_new_lead = 'http://127.0.0.1:1/new' where id = ${w.channelId}`;
      const hooked = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        email: "h@example.com",
      });
      const lead = hooked.body.lead as { id: string };
      const [event] = await sql`select id, created_at from public.events where leads_id = ${lead.id}`;
      const rows = await sql`select * from public.webhook_deliveries where events_id = ${event.id}`;
      assert.equal(rows.length, 1);
      assert.deepEqual(
        [rows[0].type, rows[0].url, rows[0].status, rows[0].attempts, rows[0].channels_id],
        ["lead.created", "http://127.0.0.1:1/new", "pending", 0, w.channelId],
      );
      assert.deepEqual(rows[0].payload, {
        type: "lead.created",
        id: event.id,
        created_at: event.created_at.toISOString(),
        data: { lead: hooked.body.lead, status: "New" },
      });
    });

    await t.step(
      "lead_external takes the channel id or public uuid, without a key, and pays new_lead rewards",
      async () => {
        const w = await world(sql);
        await sql`update public.channels set no_auth_api = true, webhook_new_lead = 'http://127.0.0.1:1/x'
        where id = ${w.channelId}`;
        const trigger = await ops.createTrigger(sql, {
          channel: w.channelId,
          on: "new_lead",
          reward: "fixed",
          amount: "3",
        });
        const [channel] = await sql`select uuid from public.channels where id = ${w.channelId}`;
        for (const channelId of [w.channelId, channel.uuid]) {
          const reply = await act(env, undefined, "lead_external", { channel_id: channelId, email: "pub@example.com" });
          assert.equal(reply.status, 200, reply.text);
          const lead = reply.body.lead as Record<string, unknown>;
          assert.deepEqual(Object.keys(lead), LEAD_KEYS);
          assert.deepEqual([lead.channels_id, lead.status, lead.email], [w.channelId, "New", "pub@example.com"]);
          assert.deepEqual(await leadEffects(sql, lead.id as string), {
            new_lead_events: 1,
            status_events: 0,
            reward_events: 1,
            webhooks: 0,
          });
          const [event] = await sql`select companies_id, data from public.events where leads_id = ${lead.id as string}`;
          assert.equal(event.companies_id, null);
          const [reward] = await sql`select reward_triggers_id from public.reward_events where leads_id = ${lead
            .id as string}`;
          assert.equal(reward.reward_triggers_id, trigger.id);
        }
      },
    );

    await t.step("lead_external errors: 400 without channel, 404 unknown channel, 403 when not public", async () => {
      const w = await world(sql);
      const missing = await act(env, undefined, "lead_external", {});
      assert.deepEqual(statusAndBody(missing), errorBody(missing, 400, "channel_id required", "invalid_request"));
      const unknown = await act(env, undefined, "lead_external", { channel_id: crypto.randomUUID() });
      assert.deepEqual(statusAndBody(unknown), errorBody(unknown, 404, "Channel not found", "channel_not_found"));
      const closed = await act(env, undefined, "lead_external", { channel_id: w.channelId });
      assert.deepEqual(
        statusAndBody(closed),
        errorBody(closed, 403, "Public API not enabled for this channel", "public_api_disabled"),
      );
      const [n] = await sql`select count(*)::int as n from public.leads where channels_id = ${w.channelId}`;
      assert.equal(n.n, 1);
    });
  } finally {
    await env.close();
  }
});
