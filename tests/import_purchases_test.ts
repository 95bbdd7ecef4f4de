// import_purchases (docs/guide.md, "Backfilling and syncing sales"): up to 1,000 rows of one channel in one call,
// each recorded or refused on its own with create_purchase's exact strings, duplicates (recorded before, or earlier in
// the batch) answered with the recorded purchase, every result checked against the rows written.
import assert from "node:assert/strict";
import { act, call, errorBody, ops, statusAndBody, type TestEnv, testEnv, type World, world } from "./helpers.ts";

type Row = Record<string, unknown>;
type Result = {
  index: number;
  status: string;
  purchase_id?: string;
  reward_events?: Row[];
  error?: string;
  code?: string;
};

// Everything written on a channel: purchases, their events and reward events.
async function channelRows(env: TestEnv, channelId: string) {
  const [row] = await env.sql`
    select
      (select count(*)::int from public.purchases where channels_id = ${channelId}) as purchases,
      (select count(*)::int from public.events where channels_id = ${channelId} and category = 'purchase') as events,
      (select count(*)::int from public.reward_events where channels_id = ${channelId}) as reward_events`;
  return { ...row };
}

// A channel with a percentage and a fixed purchase trigger, an inactive one and a new_lead one, a second lead, a
// lead on another channel of the same companies, and a product of another company.
async function importWorld(env: TestEnv) {
  const w = await world(env.sql);
  const percent = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "purchase",
    reward: "percentage",
    amount: "10",
  });
  const fixed = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "purchase",
    reward: "fixed",
    amount: "5",
  });
  const inactive = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "purchase",
    reward: "fixed",
    amount: "1",
    inactive: true,
  });
  const newLead = await ops.createTrigger(env.sql, {
    channel: w.channelId,
    on: "new_lead",
    reward: "fixed",
    amount: "1",
  });
  const lead2 = await ops.createLead(env.sql, { channel: w.channelId, email: "second@example.com" });
  const other = await ops.createChannel(env.sql, {
    title: "Other",
    creator: w.creator.id,
    referring: w.referring.id,
    receiving: w.receiving.id,
  });
  const otherLead = await ops.createLead(env.sql, { channel: other.id as string, email: "other@example.com" });
  const foreignProduct = await ops.createProduct(env.sql, { company: w.outsider.id, name: "Not ours" });
  return {
    w,
    percentId: percent.id as string,
    fixedId: fixed.id as string,
    inactiveId: inactive.id as string,
    newLeadTriggerId: newLead.id as string,
    lead2: lead2.id as string,
    otherLead: otherLead.id as string,
    foreignProduct: foreignProduct.id as string,
  };
}

function importCall(env: TestEnv, w: World, purchases: unknown[], headers: Record<string, string> = {}) {
  return call(env.handler, { action: "import_purchases", channel_id: w.channelId, purchases }, {
    key: w.receiving.key,
    headers,
  });
}

Deno.test("import_purchases", async (t) => {
  const env = await testEnv();
  const { sql } = env;
  try {
    await t.step("a 1,000-row batch: every row's result matches the rows written, in row order", async () => {
      const x = await importWorld(env);
      const { w } = x;
      // Recorded before the import, by single calls.
      const recorded = new Map<string, string>();
      for (let k = 0; k < 5; k++) {
        const made = await act(env, w.receiving.key, "create_purchase", {
          lead_id: w.leadId,
          purchase_amount: 1,
          external_id: `pre-${k}`,
        });
        recorded.set(`pre-${k}`, (made.body.purchase as Row).id as string);
      }
      const before = await channelRows(env, w.channelId);

      // Row i by i % 10: 0-3 valid (varied fields), 4 a repeat of row i-4, 5 recorded before, 6 invalid (five
      // kinds), 7 lead not on the channel (two kinds), 8 a product not owned, 9 an inactive trigger.
      const invalidRows: [Row | unknown, string][] = [
        [{ purchase_amount: 1, external_id: "no-lead" }, "lead_id required"],
        [
          { lead_id: w.leadId, purchase_amount: -1, external_id: "neg" },
          "purchase_amount must be a non-negative number",
        ],
        [{ lead_id: w.leadId, date: "yesterday", external_id: "d" }, "date must be an ISO 8601 timestamp"],
        [{ lead_id: w.leadId, purchase_amount: 1 }, "external_id required"],
        ["not a row", "purchases[<i>] must be an object"],
      ];
      const rows: unknown[] = [];
      const expected: Result[] = [];
      for (let i = 0; i < 1000; i++) {
        const kind = i % 10;
        if (kind <= 3) {
          const row: Row = {
            lead_id: kind % 2 ? x.lead2 : w.leadId,
            external_id: `ord-${i}`,
            purchase_amount: `${i}.5`,
          };
          if (kind === 1) Object.assign(row, { trigger_ids: [x.fixedId], date: "2025-04-01T00:00:00+02:00" });
          if (kind === 2) Object.assign(row, { product_id: w.productId, description: "Annual" });
          if (kind === 3) Object.assign(row, { product_name: "Setup", trigger_ids: [] });
          rows.push(row);
          expected.push({ index: i, status: "created" });
        } else if (kind === 4) {
          rows.push({ lead_id: w.leadId, external_id: `ord-${i - 4}`, purchase_amount: 7 });
          expected.push({ index: i, status: "duplicate" });
        } else if (kind === 5) {
          rows.push({ lead_id: x.lead2, external_id: `pre-${(i / 10 | 0) % 5}`, purchase_amount: 7 });
          expected.push({ index: i, status: "duplicate", purchase_id: recorded.get(`pre-${(i / 10 | 0) % 5}`) });
        } else if (kind === 6) {
          const [row, error] = invalidRows[(i / 10 | 0) % invalidRows.length];
          rows.push(row);
          expected.push({ index: i, status: "error", error: error.replace("<i>", String(i)), code: "invalid_request" });
        } else if (kind === 7) {
          const lead = (i / 10 | 0) % 2 ? x.otherLead : crypto.randomUUID();
          rows.push({ lead_id: lead, external_id: `lost-${i}` });
          expected.push({ index: i, status: "error", error: "Lead not accessible", code: "lead_not_accessible" });
        } else if (kind === 8) {
          rows.push({ lead_id: w.leadId, product_id: x.foreignProduct, external_id: `prod-${i}` });
          expected.push({
            index: i,
            status: "error",
            error: "Product not found or not owned by your company",
            code: "product_not_owned",
          });
        } else {
          rows.push({ lead_id: w.leadId, trigger_ids: [x.fixedId, x.inactiveId], external_id: `trig-${i}` });
          expected.push({
            index: i,
            status: "error",
            error: `Trigger not found or not active on this channel: ${x.inactiveId}`,
            code: "trigger_not_found",
          });
        }
      }
      const reply = await importCall(env, w, rows);
      assert.equal(reply.status, 200);
      assert.deepEqual(Object.keys(reply.body), ["results", "created", "duplicates", "errors"]);
      assert.deepEqual([reply.body.created, reply.body.duplicates, reply.body.errors], [400, 200, 400]);
      const results = reply.body.results as Result[];
      assert.equal(results.length, 1000);
      const created = new Map<string, Result>();
      for (const [i, result] of results.entries()) {
        const want = expected[i];
        if (want.status === "created") {
          assert.deepEqual(Object.keys(result), ["index", "status", "purchase_id", "reward_events"]);
          assert.deepEqual({ index: result.index, status: result.status }, want);
          created.set(`ord-${i}`, result);
        } else if (want.status === "duplicate") {
          const id = want.purchase_id ?? created.get(`ord-${i - 4}`)!.purchase_id;
          assert.deepEqual(result, { ...want, purchase_id: id });
        } else {
          assert.deepEqual(result, want);
        }
      }

      // The rows written: one purchase, one event and the rewards of each created row, nothing else.
      const after = await channelRows(env, w.channelId);
      assert.deepEqual(after, {
        purchases: before.purchases + 400,
        events: before.events + 400,
        // Each created row: percentage (amount > 0) and fixed, except kind 1 (fixed only) and kind 3 (none).
        reward_events: before.reward_events + 100 * 2 + 100 + 100 * 2 + 0,
      });
      const purchases = await sql`
        select p.id, p.external_id, p.leads_id, p.purchase_amount::text, p.products_id, p.description, p.name,
          internal.iso_time(p.date) as date, p.companies_id,
          (select count(*)::int from public.events e where e.purchases_id = p.id and e.category = 'purchase') as events
        from public.purchases p where p.channels_id = ${w.channelId} and p.external_id like 'ord-%'`;
      assert.equal(purchases.length, 400);
      for (const p of purchases) {
        const i = Number(p.external_id.slice(4));
        const result = created.get(p.external_id)!;
        assert.equal(result.purchase_id, p.id);
        const row = rows[i] as Row;
        assert.deepEqual({
          leads_id: p.leads_id,
          purchase_amount: p.purchase_amount,
          products_id: p.products_id,
          description: p.description,
          name: p.name,
          companies_id: p.companies_id,
          events: p.events,
        }, {
          leads_id: row.lead_id,
          purchase_amount: row.purchase_amount,
          products_id: row.product_id ?? null,
          description: row.description ?? null,
          name: row.product_name ?? null,
          companies_id: w.receiving.id,
          events: 1,
        });
        if (i % 10 === 1) assert.equal(p.date, "2025-03-31T22:00:00.000Z");
        const rewards = await sql`
          select r.id, r.reward_triggers_id, r.amount::text, r.currency, r.reward_type, r.rate::text,
            r.base_amount::text, r.beneficiary_companies_id, r.events_id,
            (select e.id from public.events e where e.purchases_id = r.purchases_id) as event_id
          from public.reward_events r where r.purchases_id = ${p.id} order by r.reward_type, r.reward_triggers_id`;
        assert.deepEqual(
          result.reward_events!.map((r) => [r.id, r.reward_triggers_id, r.amount, r.base_amount, r.status]),
          rewards.map((r) => [r.id, r.reward_triggers_id, Number(r.amount), Number(r.base_amount), "pending"]),
        );
        for (const r of rewards) assert.equal(r.events_id, r.event_id);
      }
    });

    await t.step("rows answer exactly as create_purchase answers the same request", async () => {
      const x = await importWorld(env);
      const { w } = x;
      const single = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        purchase_amount: "12.345",
        external_id: "cmp-1",
      });
      const batch = await importCall(env, w, [
        { lead_id: w.leadId, purchase_amount: "12.345", external_id: "cmp-2" },
        { lead_id: w.leadId, purchase_amount: "1e400", external_id: "cmp-3" },
        { lead_id: w.leadId, product_id: x.foreignProduct, external_id: "cmp-4" },
        { lead_id: w.leadId, trigger_ids: [x.newLeadTriggerId], external_id: "cmp-5" },
        { lead_id: "nope", external_id: "cmp-6" },
      ]);
      const results = batch.body.results as Result[];
      // The same rewards, in the same form (only ids differ).
      const strip = (rewards: Row[]) => rewards.map((r) => ({ ...r, id: "" }));
      assert.deepEqual(strip(results[0].reward_events!), strip(single.body.reward_events as Row[]));
      for (const [i, result] of results.slice(1).entries()) {
        const row = (batch.body.results as Result[])[i + 1];
        const { external_id: _, ...fields } = [
          { lead_id: w.leadId, purchase_amount: "1e400", external_id: "" },
          { lead_id: w.leadId, product_id: x.foreignProduct, external_id: "" },
          { lead_id: w.leadId, trigger_ids: [x.newLeadTriggerId], external_id: "" },
          { lead_id: "nope", external_id: "" },
        ][i];
        const alone = await act(env, w.receiving.key, "create_purchase", fields);
        assert.deepEqual({ error: result.error, code: result.code }, {
          error: alone.body.error,
          code: alone.body.code,
        });
        assert.equal(row.status, "error");
      }
    });

    await t.step("re-sending the same batch writes nothing and answers duplicates with the same ids", async () => {
      const x = await importWorld(env);
      const { w } = x;
      const rows = [
        { lead_id: w.leadId, external_id: "r-1", purchase_amount: 10 },
        { lead_id: w.leadId, external_id: "r-2", purchase_amount: 20 },
        { lead_id: x.otherLead, external_id: "r-3" },
      ];
      const first = await importCall(env, w, rows);
      const written = await channelRows(env, w.channelId);
      const again = await importCall(env, w, rows);
      const ids = (first.body.results as Result[]).map((r) => r.purchase_id);
      assert.deepEqual(again.body, {
        results: [
          { index: 0, status: "duplicate", purchase_id: ids[0] },
          { index: 1, status: "duplicate", purchase_id: ids[1] },
          { index: 2, status: "error", error: "Lead not accessible", code: "lead_not_accessible" },
        ],
        created: 0,
        duplicates: 2,
        errors: 1,
      });
      assert.deepEqual(await channelRows(env, w.channelId), written);
    });

    await t.step("concurrent imports of the same rows write each external_id once", async () => {
      const x = await importWorld(env);
      const { w } = x;
      const rows = Array.from(
        { length: 200 },
        (_, i) => ({ lead_id: w.leadId, external_id: `c-${i}`, purchase_amount: 1 }),
      );
      const reversed = [...rows].reverse();
      const single = Promise.all(
        [7, 99, 150].map((i) => act(env, w.receiving.key, "create_purchase", { ...rows[i] })),
      );
      const [a, b, c] = await Promise.all([
        importCall(env, w, rows),
        importCall(env, w, reversed),
        importCall(env, w, rows),
      ]);
      const singles = await single;
      for (const reply of [a, b, c]) assert.equal(reply.status, 200);
      const [{ n }] = await sql`select count(*)::int as n from public.purchases where channels_id = ${w.channelId}`;
      assert.equal(n, 200);
      const ids = new Map(
        (await sql`select external_id, id from public.purchases where channels_id = ${w.channelId}`).map((
          r,
        ) => [r.external_id, r.id]),
      );
      let createdCount = 0;
      for (const [reply, order] of [[a, rows], [b, reversed], [c, rows]] as const) {
        for (const [i, result] of (reply.body.results as Result[]).entries()) {
          assert.equal(result.purchase_id, ids.get(order[i].external_id));
          if (result.status === "created") createdCount++;
          else assert.equal(result.status, "duplicate");
        }
      }
      createdCount += singles.filter((s) => s.status === 200).length;
      for (const s of singles.filter((s) => s.status !== 200)) assert.equal(s.status, 409);
      assert.equal(createdCount, 200);
      assert.deepEqual(await channelRows(env, w.channelId), { purchases: 200, events: 200, reward_events: 400 });
    });

    await t.step("the batch's limits and fields", async () => {
      const { w } = await importWorld(env);
      const row = { lead_id: w.leadId, external_id: "x" };
      const cases: [Row, string][] = [
        [{ channel_id: w.channelId, purchases: Array(1001).fill(row) }, "purchases must have at most 1000 items"],
        [{ channel_id: w.channelId, purchases: [] }, "purchases must have at least 1 item"],
        [{ channel_id: w.channelId }, "purchases required"],
        [{ channel_id: w.channelId, purchases: { 0: row } }, "purchases must be an array"],
        [{ purchases: [row] }, "channel_id required"],
      ];
      for (const [body, error] of cases) {
        const reply = await call(env.handler, { action: "import_purchases", ...body }, { key: w.receiving.key });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, error, "invalid_request"));
      }
      const full = await importCall(
        env,
        w,
        Array.from({ length: 1000 }, (_, i) => ({ ...row, external_id: `f-${i}` })),
      );
      assert.deepEqual([full.status, full.body.created], [200, 1000]);
      assert.equal((await channelRows(env, w.channelId)).purchases, 1000);
    });

    await t.step("roles and access answer for the whole call, as create_purchase's", async () => {
      const x = await importWorld(env);
      const { w } = x;
      const rows = [{ lead_id: w.leadId, external_id: "a-1" }];
      const outsider = await call(
        env.handler,
        { action: "import_purchases", channel_id: w.channelId, purchases: rows },
        {
          key: w.outsider.key,
        },
      );
      assert.deepEqual(
        statusAndBody(outsider),
        errorBody(outsider, 403, "Channel not accessible", "channel_not_accessible"),
      );
      const unknown = await call(env.handler, {
        action: "import_purchases",
        channel_id: crypto.randomUUID(),
        purchases: rows,
      }, { key: w.receiving.key });
      assert.deepEqual(
        statusAndBody(unknown),
        errorBody(unknown, 403, "Channel not accessible", "channel_not_accessible"),
      );
      for (const party of [w.referring, w.partner, w.creator]) {
        const reply = await call(
          env.handler,
          { action: "import_purchases", channel_id: w.channelId, purchases: rows },
          {
            key: party.key,
          },
        );
        const single = await act(env, party.key, "create_purchase", rows[0]);
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(
            reply,
            403,
            "Only the receiving company can record purchases on this channel",
            "purchase_not_permitted",
          ),
        );
        assert.deepEqual([single.status, single.body.code], [403, "purchase_not_permitted"]);
      }
      const badKey = await call(env.handler, { action: "import_purchases", channel_id: w.channelId, purchases: [] }, {
        key: "sk_nope",
      });
      assert.deepEqual(statusAndBody(badKey), errorBody(badKey, 401, "Invalid API key", "invalid_api_key"));
      assert.deepEqual(await channelRows(env, w.channelId), { purchases: 0, events: 0, reward_events: 0 });
      // With purchase_writers any, every party imports.
      await sql`update public.channels set purchase_writers = 'any' where id = ${w.channelId}`;
      const partner = await call(
        env.handler,
        { action: "import_purchases", channel_id: w.channelId, purchases: rows },
        {
          key: w.partner.key,
        },
      );
      assert.deepEqual([partner.status, partner.body.created], [200, 1]);
    });

    await t.step("Idempotency-Key: a retry replays the stored answer and writes nothing", async () => {
      const { w } = await importWorld(env);
      const rows = [{ lead_id: w.leadId, external_id: "i-1", purchase_amount: 5 }];
      const first = await importCall(env, w, rows, { "Idempotency-Key": "batch-1" });
      const written = await channelRows(env, w.channelId);
      const replay = await importCall(env, w, rows, { "Idempotency-Key": "batch-1" });
      assert.deepEqual([replay.status, replay.text, replay.headers.get("idempotent-replayed")], [
        200,
        first.text,
        "true",
      ]);
      assert.deepEqual(await channelRows(env, w.channelId), written);
      const other = await importCall(env, w, [{ ...rows[0], purchase_amount: 6 }], { "Idempotency-Key": "batch-1" });
      assert.deepEqual(
        statusAndBody(other),
        errorBody(other, 422, "Idempotency-Key reused with a different request", "idempotency_key_reused"),
      );
      // A new key: the row is a duplicate.
      const fresh = await importCall(env, w, rows, { "Idempotency-Key": "batch-2" });
      assert.deepEqual((fresh.body.results as Result[])[0].status, "duplicate");
    });
  } finally {
    await env.close();
  }
});
