import assert from "node:assert/strict";
import { call, errorBody, ops, statusAndBody, testEnv, world, writtenFor } from "./helpers.ts";

// The seed's keys, in the seed's order.
const PURCHASE_KEYS = ["id", "created_at", "leads_id", "products_id", "purchase_amount", "date", "description"];

Deno.test("create_purchase", async (t) => {
  const env = await testEnv();
  const { sql, handler } = env;
  try {
    await t.step("the seed's example request returns the seed's response and writes purchase and event", async () => {
      const w = await world(sql);
      const reply = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        product_id: w.productId,
        purchase_amount: 12500,
        date: "2025-04-01T00:00:00.000Z",
        description: "Annual subscription",
      }, { key: w.receiving.key });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get("content-type"), "application/json");
      assert.deepEqual(Object.keys(reply.body), ["purchase", "reward_events"]);
      assert.deepEqual(reply.body.reward_events, []);
      const purchase = reply.body.purchase as Record<string, unknown>;
      assert.deepEqual(Object.keys(purchase), PURCHASE_KEYS);
      assert.match(purchase.id as string, /^[0-9a-f-]{36}$/);
      assert.match(purchase.created_at as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.deepEqual({ ...purchase, id: "", created_at: "" }, {
        id: "",
        created_at: "",
        leads_id: w.leadId,
        products_id: w.productId,
        purchase_amount: 12500,
        date: "2025-04-01T00:00:00.000Z",
        description: "Annual subscription",
      });
      const rows = await sql`select * from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(rows.length, 1);
      assert.equal(rows[0].id, purchase.id);
      assert.equal(rows[0].purchase_amount, "12500");
      assert.equal(rows[0].companies_id, w.receiving.id);
      assert.equal(rows[0].name, null);
      const events = await sql`select * from public.events where purchases_id = ${purchase.id as string}`;
      assert.equal(events.length, 1);
      assert.deepEqual(
        {
          category: events[0].category,
          channels_id: events[0].channels_id,
          leads_id: events[0].leads_id,
          companies_id: events[0].companies_id,
          data: events[0].data,
        },
        {
          category: "purchase",
          channels_id: w.channelId,
          leads_id: w.leadId,
          companies_id: w.receiving.id,
          data: { purchase_amount: 12500, currency: "USD" },
        },
      );
    });

    await t.step("omitted date is now and absent optionals are null", async () => {
      const w = await world(sql);
      const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.equal(reply.status, 200);
      const purchase = reply.body.purchase as Record<string, unknown>;
      assert.deepEqual(Object.keys(purchase), PURCHASE_KEYS);
      assert.equal(purchase.products_id, null);
      assert.equal(purchase.purchase_amount, null);
      assert.equal(purchase.description, null);
      // "Now" is the writing transaction's time, which is also the row's created_at.
      const [row] = await sql`select date = created_at as now, date from public.purchases where id = ${purchase
        .id as string}`;
      assert.deepEqual([row.now, purchase.date], [true, row.date.toISOString()]);
    });

    await t.step("dates are stored as sent and returned as UTC with milliseconds", async () => {
      const w = await world(sql);
      const cases = [
        ["2025-04-01", "2025-04-01T00:00:00.000Z"],
        ["2025-04-01T00:00:00Z", "2025-04-01T00:00:00.000Z"],
        ["2025-04-01T00:00:00.000+02:00", "2025-03-31T22:00:00.000Z"],
        ["2025-04-01T12:30:15.123456-05:30", "2025-04-01T18:00:15.123Z"],
      ];
      for (const [sent, returned] of cases) {
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId, date: sent }, {
          key: w.receiving.key,
        });
        assert.equal((reply.body.purchase as Record<string, unknown>).date, returned, sent);
      }
    });

    await t.step("the newer request generation stores product_name and product_description", async () => {
      const w = await world(sql);
      const reply = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        product_name: "Custom plan",
        product_description: "Bespoke",
        purchase_amount: "99.90",
      }, { key: w.receiving.key });
      assert.equal(reply.status, 200);
      const purchase = reply.body.purchase as Record<string, unknown>;
      assert.deepEqual(Object.keys(purchase), [...PURCHASE_KEYS, "name"]);
      assert.equal(purchase.name, "Custom plan");
      assert.equal(purchase.description, "Bespoke");
      assert.equal(purchase.purchase_amount, 99.9);
      const [row] = await sql`select name, description, purchase_amount from public.purchases where id = ${purchase
        .id as string}`;
      assert.deepEqual({ ...row }, { name: "Custom plan", description: "Bespoke", purchase_amount: "99.9" });
    });

    await t.step("description wins over product_description when both are sent", async () => {
      const w = await world(sql);
      const reply = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        description: "Mine",
        product_description: "Theirs",
      }, { key: w.receiving.key });
      assert.equal((reply.body.purchase as Record<string, unknown>).description, "Mine");
    });

    await t.step("a decimal string keeps every digit", async () => {
      const w = await world(sql);
      const reply = await call(handler, {
        action: "create_purchase",
        lead_id: w.leadId,
        purchase_amount: "123456789012.125",
      }, { key: w.receiving.key });
      assert.equal(reply.status, 200);
      const [row] = await sql`select purchase_amount from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(row.purchase_amount, "123456789012.125");
    });

    await t.step("a JSON number with more digits than a float keeps is recorded exactly", async () => {
      const w = await world(sql);
      const raw = `{"action":"create_purchase","lead_id":"${w.leadId}","purchase_amount":123456789012.12345678}`;
      const reply = await call(handler, null, { raw, key: w.receiving.key });
      assert.equal(reply.status, 200, reply.text);
      const [row] = await sql`select purchase_amount from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(row.purchase_amount, "123456789012.12345678");
    });

    await t.step("field validation answers 400 with the field's message and writes nothing", async () => {
      const w = await world(sql);
      const cases: [Record<string, unknown>, string][] = [
        [{}, "lead_id required"],
        [{ lead_id: null }, "lead_id required"],
        [{ lead_id: "" }, "lead_id required"],
        [{ lead_id: "not-a-uuid" }, "lead_id must be a UUID"],
        [{ lead_id: 42 }, "lead_id must be a UUID"],
        [{ lead_id: w.leadId, product_id: "x" }, "product_id must be a UUID"],
        [{ lead_id: w.leadId, purchase_amount: -1 }, "purchase_amount must be a non-negative number"],
        [{ lead_id: w.leadId, purchase_amount: "12,50" }, "purchase_amount must be a non-negative number"],
        [{ lead_id: w.leadId, purchase_amount: "-5" }, "purchase_amount must be a non-negative number"],
        [{ lead_id: w.leadId, purchase_amount: true }, "purchase_amount must be a non-negative number"],
        [{ lead_id: w.leadId, purchase_amount: 1e12 + 1 }, "purchase_amount must be at most 1000000000000"],
        [{ lead_id: w.leadId, purchase_amount: "1000000000000.01" }, "purchase_amount must be at most 1000000000000"],
        [{ lead_id: w.leadId, date: "yesterday" }, "date must be an ISO 8601 timestamp"],
        [{ lead_id: w.leadId, date: "2025-02-30" }, "date must be an ISO 8601 timestamp"],
        [{ lead_id: w.leadId, date: "0001-01-01T00:00:00+01:00" }, "date must be an ISO 8601 timestamp"],
        [{ lead_id: w.leadId, date: "9999-12-31T23:59:59-15:00" }, "date must be an ISO 8601 timestamp"],
        [{ lead_id: w.leadId, description: 5 }, "description must be a string"],
        [{ lead_id: w.leadId, description: "a\u0000b" }, "description contains invalid characters"],
        [{ lead_id: w.leadId, product_name: "\ud800" }, "product_name contains invalid characters"],
        [
          { lead_id: w.leadId, purchase_amount: "1." + "0".repeat(17000) + "1" },
          "purchase_amount must be a non-negative number",
        ],
        [
          { lead_id: w.leadId, purchase_amount: "1.0000000000001" },
          "purchase_amount must have at most 12 decimal places",
        ],
        [{ lead_id: w.leadId, description: "x".repeat(10_001) }, "description must be at most 10000 characters"],
        [{ lead_id: w.leadId, trigger_ids: "abc" }, "trigger_ids must be an array of UUIDs"],
        [{ lead_id: w.leadId, trigger_ids: ["abc"] }, "trigger_ids must be an array of UUIDs"],
        [
          { lead_id: w.leadId, trigger_ids: Array.from({ length: 101 }, () => crypto.randomUUID()) },
          "trigger_ids must have at most 100 entries",
        ],
      ];
      for (const [fields, message] of cases) {
        const reply = await call(handler, { action: "create_purchase", ...fields }, { key: w.receiving.key });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, "invalid_request"), message);
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });

    await t.step("dates as .NET, Java and hour-offset clients write them are stored to the microsecond", async () => {
      const w = await world(sql);
      const cases: [string, string, string][] = [
        ["2025-04-01T00:00:00.1234567Z", "2025-04-01T00:00:00.123Z", "2025-04-01 00:00:00.123456+00"],
        ["2025-04-01T02:00:00.123456789+02:00", "2025-04-01T00:00:00.123Z", "2025-04-01 00:00:00.123456+00"],
        ["2025-04-01T02:00:00+02", "2025-04-01T00:00:00.000Z", "2025-04-01 00:00:00+00"],
        ["2025-04-01t00:00:00z", "2025-04-01T00:00:00.000Z", "2025-04-01 00:00:00+00"],
        ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", "0001-01-01 00:00:00+00"],
        ["9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z", "9999-12-31 23:59:59.999999+00"],
      ];
      for (const [sent, answered, stored] of cases) {
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId, date: sent }, {
          key: w.receiving.key,
        });
        assert.equal(reply.status, 200, reply.text);
        const purchase = reply.body.purchase as { id: string; date: string };
        assert.equal(purchase.date, answered, sent);
        const [row] = await sql`select (date at time zone 'UTC')::text || '+00' as date from public.purchases
          where id = ${purchase.id}`;
        assert.equal(row.date, stored, sent);
      }
    });

    await t.step("a missing, unknown or revoked key answers 401, also when the body is invalid too", async () => {
      const w = await world(sql);
      const revoked = await ops.createKey(sql, { company: w.receiving.id });
      await ops.revokeKey(sql, { id: revoked.id as string });
      const good = { action: "create_purchase", lead_id: w.leadId };
      const bad = { action: "create_purchase", lead_id: "nope" };
      const cases: [Record<string, unknown>, string | undefined][] = [
        [good, undefined],
        [good, ""],
        [good, "has space"],
        [good, "sk_unknown"],
        [good, revoked.api_key as string],
        [bad, undefined],
        [bad, "sk_unknown"],
        [bad, revoked.api_key as string],
      ];
      for (const [body, key] of cases) {
        const reply = await call(handler, body, { key });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 401, "Invalid API key", "invalid_api_key"));
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });

    await t.step("a lead that does not exist or is on a channel the company is not in answers 403", async () => {
      const w = await world(sql);
      for (
        const [leadId, key] of [
          [crypto.randomUUID(), w.receiving.key],
          [w.leadId, w.outsider.key],
        ]
      ) {
        const reply = await call(handler, { action: "create_purchase", lead_id: leadId, purchase_amount: 10 }, {
          key,
        });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 403, "Lead not accessible", "lead_not_accessible"));
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });

    await t.step("the outsider gets 403 for every lead of the channel", async () => {
      const w = await world(sql);
      const others = await Promise.all([1, 2, 3].map(() => ops.createLead(sql, { channel: w.channelId })));
      for (const leadId of [w.leadId, ...others.map((l) => l.id as string)]) {
        const reply = await call(handler, { action: "create_purchase", lead_id: leadId }, { key: w.outsider.key });
        assert.equal(reply.status, 403);
        assert.equal(reply.body.error, "Lead not accessible");
        assert.deepEqual(await writtenFor(sql, leadId), { purchases: 0, events: 0, reward_events: 0 });
      }
    });

    await t.step("with purchase_writers any, each of the four channel roles can record a purchase", async () => {
      const w = await world(sql, { purchaseWriters: "any" });
      for (const role of [w.creator, w.referring, w.receiving, w.partner]) {
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId }, { key: role.key });
        assert.equal(reply.status, 200);
        const [row] = await sql`select companies_id from public.purchases where id = ${
          (reply.body.purchase as Record<string, string>).id
        }`;
        assert.equal(row.companies_id, role.id);
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 4, events: 4, reward_events: 0 });
    });

    await t.step(
      "with purchase_writers receiving (the default), the other parties get 403 and write nothing",
      async () => {
        const w = await world(sql);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "10" });
        for (const action of ["create_purchase", "create_purchase_custom"]) {
          for (const role of [w.creator, w.referring, w.partner]) {
            const reply = await call(handler, { action, lead_id: w.leadId, purchase_amount: 1000000000000 }, {
              key: role.key,
            });
            assert.deepEqual(
              statusAndBody(reply),
              errorBody(
                reply,
                403,
                "Only the receiving company can record purchases on this channel",
                "purchase_not_permitted",
              ),
            );
          }
          // Lead access is checked first: an outsider learns nothing about the channel's settings.
          const outsider = await call(handler, { action, lead_id: w.leadId }, { key: w.outsider.key });
          assert.deepEqual(
            statusAndBody(outsider),
            errorBody(outsider, 403, "Lead not accessible", "lead_not_accessible"),
          );
        }
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 1 });
      },
    );

    await t.step("a product of another company or no product at all answers 403", async () => {
      const w = await world(sql);
      const foreign = await ops.createProduct(sql, { company: w.referring.id, name: "Not yours" });
      for (const productId of [foreign.id as string, crypto.randomUUID()]) {
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId, product_id: productId }, {
          key: w.receiving.key,
        });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 403, "Product not found or not owned by your company", "product_not_owned"),
        );
      }
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
    });

    await t.step("a step failing after the purchase insert leaves no purchase, event or reward", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
      // A real failure inside the transaction, after the purchase row is written: the
      // reward_events insert of this lead raises.
      const fn = `fail_${crypto.randomUUID().replaceAll("-", "")}`;
      await sql.unsafe(`create function public.${fn}() returns trigger language plpgsql as $$
        begin raise exception 'injected failure'; end $$`);
      await sql.unsafe(`create trigger ${fn} before insert on public.reward_events for each row
        when (new.leads_id = '${w.leadId}') execute function public.${fn}()`);
      try {
        const reply = await call(handler, { action: "create_purchase", lead_id: w.leadId, purchase_amount: 10 }, {
          key: w.receiving.key,
        });
        assert.deepEqual(
          statusAndBody(reply),
          errorBody(reply, 500, "Internal server error", "internal_error"),
        );
        assert.ok(!reply.text.includes("injected"), "a 500 must not leak the cause");
        assert.match(String(env.logged.at(-1)), /injected failure/);
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 0, events: 0, reward_events: 0 });
      } finally {
        await sql.unsafe(`drop trigger ${fn} on public.reward_events; drop function public.${fn}()`);
      }
    });

    await t.step("50 concurrent purchases write 50 purchases, 50 events and the exact reward sums", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "2.50" });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "12.5" });
      const amounts = Array.from({ length: 50 }, (_, i) => `${100 + i}.${String(i).padStart(2, "0")}`);
      const replies = await Promise.all(
        amounts.map((amount) =>
          call(handler, { action: "create_purchase", lead_id: w.leadId, purchase_amount: amount }, {
            key: w.receiving.key,
          })
        ),
      );
      assert.deepEqual(replies.map((r) => r.status), amounts.map(() => 200));
      assert.equal(new Set(replies.map((r) => (r.body.purchase as Record<string, string>).id)).size, 50);
      assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 50, events: 50, reward_events: 100 });
      // The formula in integer cents: 2.50 fixed plus 12.5 % rounded half away from zero.
      const expectedCents = amounts.reduce((sum, amount) => {
        const cents = BigInt(amount.replace(".", ""));
        return sum + 250n + (cents * 125n + 500n) / 1000n;
      }, 0n);
      const [actual] =
        await sql`select sum(amount * 100)::bigint::text as cents from public.reward_events where leads_id = ${w.leadId}`;
      assert.equal(actual.cents, expectedCents.toString());
    });
  } finally {
    await env.close();
  }
});
