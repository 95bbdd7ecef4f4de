import assert from "node:assert/strict";
import { act, errorBody, LEAD_KEYS, ops, statusAndBody, testEnv, world } from "./helpers.ts";

Deno.test("get_leads, get_lead_by_id, get_lead_by_legacy_id", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("a lead has the documented shape, with nested property values", async () => {
      const w = await world(sql);
      const budget = await ops.createProperty(sql, { channel: w.channelId, name: "Budget", type: "number" });
      const created = await act(env, w.receiving.key, "create_lead", {
        channel_id: w.channelId,
        email: "a@example.com",
        first_name: "Ada",
        last_name: "Lovelace",
        phone: "+44 1",
        company_name: "Engines",
        source: "referral",
        referring_employee: "bob",
        notes: "met at conf",
        business_id: "B-1",
        properties: [{ property_definitions_id: budget.id, value: 5000 }],
      });
      assert.equal(created.status, 200, created.text);
      const lead = created.body.lead as Record<string, unknown>;
      assert.deepEqual(Object.keys(lead), LEAD_KEYS);
      const [row] = await sql`select * from public.leads where id = ${lead.id as string}`;
      const [value] = await sql`select id from public.property_values where leads_id = ${row.id}`;
      const expected = {
        id: row.id,
        legacy_id: Number(row.legacy_id),
        created_at: row.created_at.toISOString(),
        email: "a@example.com",
        first_name: "Ada",
        last_name: "Lovelace",
        phone: "+44 1",
        company_name: "Engines",
        source: "referral",
        employee: "bob",
        referring_employee: "bob",
        notes: "met at conf",
        business_id: "B-1",
        channels_id: w.channelId,
        lead_status_id: w.statusId,
        status: "New",
        property_values: [{
          id: value.id,
          value: "5000",
          property_definitions_id: budget.id,
          property_definitions: { id: budget.id, name: "Budget", type: "number" },
        }],
      };
      assert.deepEqual(lead, expected);
      // The single-lead reads add lead_status after every other key.
      const read = { ...expected, lead_status: { id: w.statusId, status: "New" } };
      for (const role of [w.creator, w.referring, w.partner]) {
        const byId = await act(env, role.key, "get_lead_by_id", { lead_id: row.id });
        assert.deepEqual(statusAndBody(byId), { status: 200, body: { lead: read } });
        assert.deepEqual(Object.keys(byId.body.lead as object), [...LEAD_KEYS, "lead_status"]);
        const byLegacy = await act(env, role.key, "get_lead_by_legacy_id", { legacy_id: Number(row.legacy_id) });
        assert.deepEqual(statusAndBody(byLegacy), { status: 200, body: { lead: read } });
        assert.deepEqual(Object.keys(byLegacy.body.lead as object), [...LEAD_KEYS, "lead_status"]);
      }
      const listed = await act(env, w.receiving.key, "get_leads", { channel_id: w.channelId, limit: 1 });
      assert.deepEqual(listed.body.leads, [expected], "get_leads keeps the Lead without lead_status");
      const byLegacyString = await act(env, w.creator.key, "get_lead_by_legacy_id", {
        legacy_id: String(row.legacy_id),
      });
      assert.equal(byLegacyString.status, 200);
    });

    await t.step("lead_status follows the lead's current status, and is null for a lead without one", async () => {
      const w = await world(sql);
      const won = await ops.createStatus(sql, { channel: w.channelId, name: "Won" });
      const moved = await act(env, w.receiving.key, "update_status", { lead_id: w.leadId, status: "Won" });
      assert.equal(moved.status, 200, moved.text);
      const current = await act(env, w.partner.key, "get_lead_by_id", { lead_id: w.leadId });
      const currentLead = current.body.lead as Record<string, unknown>;
      assert.deepEqual(
        [current.status, currentLead.lead_status_id, currentLead.status, currentLead.lead_status],
        [200, won.id, "Won", { id: won.id, status: "Won" }],
      );

      const bare = await ops.createChannel(sql, {
        title: "No statuses",
        creator: w.creator.id,
        referring: w.referring.id,
        receiving: w.receiving.id,
      });
      const created = await act(env, w.receiving.key, "create_lead", { channel_id: bare.id, email: "x@example.com" });
      assert.equal(created.status, 200, created.text);
      const lead = created.body.lead as Record<string, unknown>;
      assert.deepEqual([lead.lead_status_id, lead.status], [null, null]);
      const read = { ...lead, lead_status: null };
      const byId = await act(env, w.creator.key, "get_lead_by_id", { lead_id: lead.id });
      assert.deepEqual(statusAndBody(byId), { status: 200, body: { lead: read } });
      assert.deepEqual(Object.keys(byId.body.lead as object), [...LEAD_KEYS, "lead_status"]);
      const byLegacy = await act(env, w.creator.key, "get_lead_by_legacy_id", { legacy_id: lead.legacy_id });
      assert.deepEqual(statusAndBody(byLegacy), { status: 200, body: { lead: read } });
      assert.deepEqual(Object.keys(byLegacy.body.lead as object), [...LEAD_KEYS, "lead_status"]);
    });

    await t.step("lookups of leads that are not accessible or do not exist answer 403", async () => {
      const w = await world(sql);
      const [lead] = await sql`select legacy_id from public.leads where id = ${w.leadId}`;
      const cases: [string, Record<string, unknown>][] = [
        ["get_lead_by_id", { lead_id: w.leadId }],
        ["get_lead_by_legacy_id", { legacy_id: Number(lead.legacy_id) }],
      ];
      for (const [action, fields] of cases) {
        const reply = await act(env, w.outsider.key, action, fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 403, "Lead not accessible", "lead_not_accessible"));
      }
      for (
        const [action, fields] of [
          ["get_lead_by_id", { lead_id: crypto.randomUUID() }],
          ["get_lead_by_legacy_id", { legacy_id: 9_000_000_000_000 }],
        ] as const
      ) {
        const reply = await act(env, w.receiving.key, action, fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 403, "Lead not accessible", "lead_not_accessible"));
      }
    });

    await t.step("field errors of the three reads", async () => {
      const w = await world(sql);
      const cases: [string, Record<string, unknown>, string][] = [
        ["get_leads", {}, "channel_id required"],
        ["get_leads", { channel_id: "x" }, "channel_id must be a UUID"],
        ["get_leads", { channel_id: w.channelId, limit: 0 }, "limit must be an integer between 1 and 100"],
        ["get_leads", { channel_id: w.channelId, limit: 101 }, "limit must be an integer between 1 and 100"],
        ["get_leads", { channel_id: w.channelId, limit: 1.5 }, "limit must be an integer between 1 and 100"],
        ["get_leads", { channel_id: w.channelId, cursor: 5 }, "cursor must be a string"],
        ["get_lead_by_id", {}, "lead_id required"],
        ["get_lead_by_id", { lead_id: "nope" }, "lead_id must be a UUID"],
        ["get_lead_by_legacy_id", {}, "legacy_id required"],
        [
          "get_lead_by_legacy_id",
          { legacy_id: "12a" },
          `legacy_id must be an integer between 1 and ${Number.MAX_SAFE_INTEGER}`,
        ],
      ];
      for (const [action, fields, message] of cases) {
        const reply = await act(env, w.receiving.key, action, fields);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
      for (const cursor of ["garbage!", "", "bm90LWEtY3Vyc29y"]) {
        const reply = await act(env, w.receiving.key, "get_leads", { channel_id: w.channelId, cursor });
        if (cursor === "") {
          assert.equal(reply.status, 200, "an empty cursor is the first page");
          continue;
        }
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "cursor is invalid", "invalid_request"));
      }
    });

    await t.step("a channel the company is not in, or that does not exist, answers 403", async () => {
      const w = await world(sql);
      for (const [key, channel] of [[w.outsider.key, w.channelId], [w.receiving.key, crypto.randomUUID()]]) {
        const reply = await act(env, key, "get_leads", { channel_id: channel });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 403, "Channel not accessible", "channel_not_accessible"),
        );
      }
    });

    await t.step("250 leads page newest first, each exactly once, unaffected by a lead created mid-way", async () => {
      const w = await world(sql);
      await sql`delete from public.leads where id = ${w.leadId}`;
      // 200 distinct times plus 50 leads sharing one timestamp, so ties are broken by id.
      await sql`
        insert into public.leads (channels_id, created_at, email)
        select ${w.channelId}, now() - make_interval(secs => least(n, 201)), 'lead' || n || '@example.com'
        from generate_series(1, 250) n`;
      const expected = (await sql`
        select id from public.leads where channels_id = ${w.channelId} order by created_at desc, id desc`)
        .map((r) => r.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      const sizes: number[] = [];
      do {
        const reply = await act(env, w.receiving.key, "get_leads", {
          channel_id: w.channelId,
          ...(cursor ? { cursor } : {}),
        });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(Object.keys(reply.body), ["leads", "next_cursor"]);
        const leads = reply.body.leads as { id: string }[];
        sizes.push(leads.length);
        seen.push(...leads.map((l) => l.id));
        cursor = reply.body.next_cursor as string | null;
        if (sizes.length === 1) {
          // A lead created between pages is newer than the cursor: later pages are unchanged.
          await ops.createLead(sql, { channel: w.channelId });
        }
      } while (cursor);
      assert.deepEqual(sizes, [100, 100, 50]);
      assert.deepEqual(seen, expected);
    });

    await t.step("limit pages in smaller steps and the last page has next_cursor null", async () => {
      const w = await world(sql);
      for (let i = 0; i < 4; i++) await ops.createLead(sql, { channel: w.channelId });
      const first = await act(env, w.receiving.key, "get_leads", { channel_id: w.channelId, limit: "3" });
      assert.equal((first.body.leads as unknown[]).length, 3);
      assert.equal(typeof first.body.next_cursor, "string");
      const second = await act(env, w.receiving.key, "get_leads", {
        channel_id: w.channelId,
        limit: 3,
        cursor: first.body.next_cursor,
      });
      assert.equal((second.body.leads as unknown[]).length, 2);
      assert.equal(second.body.next_cursor, null);
      const exact = await act(env, w.receiving.key, "get_leads", { channel_id: w.channelId, limit: 5 });
      assert.equal(exact.body.next_cursor, null, "no cursor when the page ends exactly at the last lead");
    });
  } finally {
    await env.close();
  }
});
