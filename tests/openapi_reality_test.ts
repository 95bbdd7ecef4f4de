// Schema and reality agree (docs/operations.md, "The OpenAPI document and the docs page"), for
// every action of the registry, on a real database:
// real requests validate against the documented request schemas and are answered 200 with a
// body the documented success schema accepts (no undocumented key); bodies the server refuses
// with 400 the request schema refuses too; every error answer matches the documented error body
// and is one of the action's documented error strings.
import assert from "node:assert/strict";
import { actions } from "../supabase/functions/_shared/registry.ts";
import { messagePattern, openApiDocument } from "../supabase/functions/_shared/openapi/document.ts";
import type { ErrorDoc } from "../supabase/functions/_shared/action.ts";
import { call, FUNCTION_URL, ops, type Reply, sendStripe, testEnv, world } from "./helpers.ts";
import { compileSchemas } from "./openapi_schemas.ts";

const document = openApiDocument(actions);
// An answer, read by path (`created.lead.id`); the schemas have already checked its shape.
// deno-lint-ignore no-explicit-any
type Answer = Record<string, any>;
const schemas = compileSchemas(document);

// Whether the document lists this error among the action's (its request schema's x-errors).
function documented(name: string, status: number, message: string): boolean {
  const requests = (document.components as { schemas: Record<string, { "x-errors": ErrorDoc[] }> }).schemas;
  return requests[name]["x-errors"].some((e) =>
    e.status === status && new RegExp(messagePattern(e.message)).test(message)
  );
}

Deno.test("schema and reality agree for every action of the OpenAPI document", async (t) => {
  const env = testEnv();
  const { sql, handler } = env;
  const exercised = new Set<string>();
  const refused = new Set<string>();
  try {
    const w = await world(sql, { holdDays: 0 });
    const rk = w.receiving.key;
    const plan = await ops.createProperty(sql, { channel: w.channelId, name: "Plan" });
    const qualified = await ops.createStatus(sql, { channel: w.channelId, name: "Qualified", order: 5 });
    const percent = await ops.createTrigger(sql, {
      channel: w.channelId,
      on: "purchase",
      reward: "percentage",
      amount: "10",
    });
    await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
    await ops.createTrigger(sql, { channel: w.channelId, on: "new_lead", reward: "fixed", amount: "2" });
    await sql`update public.channels set no_auth_api = true, intake_per_minute = 1000 where id = ${w.channelId}`;
    const [{ legacy_id: legacyId }] = await sql`select legacy_id from public.leads where id = ${w.leadId}`;

    // Sends a body the server must accept: the request schema accepts it, the answer is 200 and
    // the success schema accepts the answer.
    const ok = async (name: string, fields: Record<string, unknown>, options: { key?: string; raw?: string } = {}) => {
      const body = { action: name, ...fields };
      const parsed = options.raw ? JSON.parse(options.raw) : body;
      assert.equal(
        schemas.request(name)(parsed),
        true,
        `${name} request ${JSON.stringify(schemas.request(name).errors)}`,
      );
      assert.equal(schemas.request("ActionRequest")(parsed), true, `${name} request via the union`);
      const proxy = schemas.proxyRequest(name);
      assert.equal(proxy(parsed), true, `${name} request, formats asserted ${JSON.stringify(proxy.errors)}`);
      const key = options.key ?? (actions[name].auth ? rk : undefined);
      const reply = await call(handler, body, { key, raw: options.raw });
      assert.equal(reply.status, 200, `${name}: ${reply.text}`);
      assert.ok(reply.headers.get("x-request-id"), "X-Request-Id is required on every answer");
      const validate = schemas.response(name);
      assert.equal(validate(reply.body), true, `${name} response ${JSON.stringify(validate.errors)}: ${reply.text}`);
      exercised.add(name);
      return reply.body as Answer;
    };

    // An error answer: its body matches the documented body of its status, and its string is one
    // the action documents.
    const documentedError = (name: string, reply: Reply) => {
      const validate = schemas.error(reply.status);
      assert.equal(
        validate(reply.body),
        true,
        `${name} ${reply.status} ${reply.text}: ${JSON.stringify(validate.errors)}`,
      );
      const message = reply.body.error as string;
      assert.ok(documented(name, reply.status, message), `${name}: ${reply.status} ${message} is not documented`);
    };

    let lead = "";
    let purchase = "";
    let synced = "";
    let reviewIds: string[] = [];

    await t.step(
      "real requests of every action validate, and their 200 answers match the success schemas",
      async () => {
        await ok("get_channels", {});
        const created = await ok("create_lead", {
          channel_id: w.channelId,
          email: "ada@example.com",
          first_name: "Ada",
          phone: 4915112345678,
          notes: null,
          referring_employee: "jane",
          properties: [{ property_definitions_id: plan.id, value: 42 }],
        });
        lead = created.lead.id;
        await ok("create_lead", { channel_id: w.channelId.toUpperCase() });
        const external = await ok("lead_external", {
          channel_id: w.channelId,
          email: "pub@example.com",
          source: "site",
        });
        await ok("lead_external", { channel_id: w.channelId, business_id: 12345678901234567890 });
        const page = await ok("get_leads", { channel_id: w.channelId, limit: "2" });
        await ok("get_leads", { channel_id: w.channelId, limit: 1, cursor: page.next_cursor });
        await ok("get_lead_by_id", { lead_id: lead.toUpperCase() });
        await ok("get_lead_by_legacy_id", { legacy_id: legacyId });
        await ok("get_lead_by_legacy_id", { legacy_id: String(legacyId) });
        await ok("get_lead_by_legacy_id", { legacy_id: `000${legacyId}` });
        await ok("get_leads", { channel_id: w.channelId, limit: "100" });
        await ok("get_leads", { channel_id: w.channelId, limit: "007" });
        await ok("update_lead", { lead_id: lead, phone: "+49 151 1234", notes: null, employee: null });
        await ok("update_lead", {
          lead_id: lead,
          properties: [{ property_definitions_id: plan.id, value: { tier: 2 } }],
        });
        await ok("update_status", { lead_id: lead, status: "Qualified" });
        await ok("update_status_id", { lead_id: lead, status_id: w.statusId, old_status_id: qualified.id });
        await ok("update_status_id", { lead_id: lead, status_id: w.statusId });

        const bought = await ok("create_purchase", {
          lead_id: w.leadId,
          product_id: w.productId,
          purchase_amount: 12500,
          date: "2025-04-01",
          description: "Annual subscription",
        });
        purchase = bought.purchase.id;
        await ok("create_purchase", {}, {
          raw: `{"action":"create_purchase","lead_id":"${w.leadId}","purchase_amount":2852199.999999999999,` +
            `"date":"2025-04-01T00:00:00.0000000Z","product_name":"Pro","trigger_ids":["${percent.id}"]}`,
        });
        await ok("create_purchase", {
          lead_id: w.leadId,
          purchase_amount: "0.5",
          date: "2025-04-01T02:00:00+02",
          trigger_ids: [],
        });
        await ok("create_purchase", { lead_id: w.leadId, purchase_amount: null, description: null });
        for (const date of ["2025-04-01T09:30+02", "2024-02-29 23:59:59.123456789-0330", "0001-01-01T00:00Z"]) {
          await ok("create_purchase", { lead_id: w.leadId, date, purchase_amount: "0.000000000001" });
        }
        await ok("create_purchase", { lead_id: w.leadId, purchase_amount: 1e-12 });
        await ok("create_purchase_custom", {
          lead_id: w.leadId,
          product_name: "Consulting",
          product_description: "Two days",
          purchase_amount: "1500.00",
          date: "2025-04-01t10:00:00z",
        });
        await ok("create_purchase_custom", {}, {
          raw: `{"action":"create_purchase_custom","lead_id":"${w.leadId}","purchase_amount":1.5e3}`,
        });
        synced =
          (await ok("create_purchase", { lead_id: w.leadId, purchase_amount: 40, external_id: "ord-1" })).purchase.id;
        await ok("create_purchase_custom", { lead_id: w.leadId, product_name: "Setup", external_id: "ord-2" });
        await ok("import_purchases", {
          channel_id: w.channelId,
          purchases: [
            { lead_id: w.leadId, external_id: "ord-3", purchase_amount: "12.50", date: "2025-04-01" },
            { lead_id: w.leadId, external_id: "ord-1" },
            { lead_id: w.leadId, external_id: "ord-4", product_id: crypto.randomUUID() },
          ],
        });
        await ok("get_purchases", { lead_id: w.leadId });
        await ok("get_purchases", { channel_id: w.channelId, limit: 1 });
        await ok("get_purchases", { channel_id: w.channelId, external_id: "ord-1" });
        await ok("refund_purchase", { purchase_id: synced, amount: 1, external_id: "re_1" });
        await ok("refund_purchase", { purchase_id: purchase, amount: "10", reason: "Partial" });
        await ok("refund_purchase", { purchase_id: purchase });
        const secret = "whsec_reality";
        const connected = await ok("connect_stripe", { channel_id: w.channelId, signing_secret: secret });
        for (const n of [1, 2]) {
          const invoice = { id: `in_reality_${n}`, amount_paid: 1000, currency: "usd", customer: `cus_reality_${n}` };
          const sent = await sendStripe(handler, connected.connection.id, {
            id: `evt_reality_${n}`,
            type: "invoice.paid",
            data: { object: invoice },
          }, { secret });
          assert.equal(sent.body.outcome, "unmatched", sent.text);
          assert.equal(schemas.component("StripeEventReceived")(sent.body), true, sent.text);
        }
        const firstSales = await ok("get_unmatched_sales", { limit: 1 });
        const nextSales = await ok("get_unmatched_sales", { cursor: firstSales.next_cursor });
        await ok("attach_sale", { unmatched_sale_id: firstSales.unmatched_sales[0].id, lead_id: w.leadId });
        await ok("dismiss_sale", { unmatched_sale_id: nextSales.unmatched_sales[0].id, reason: "A test payment" });

        await ok("get_reward_events", { channel_id: w.channelId });
        await ok("get_reward_events", { channel_id: w.channelId, purchase_id: purchase, lead_id: w.leadId, limit: 3 });

        // Public intake's rewards wait for review: one approved, one rejected.
        const rewards = await ok("get_reward_events", { channel_id: w.channelId, lead_id: external.lead.id });
        reviewIds = rewards.reward_events.map((r: { id: string }) => r.id);
        const second = await ok("get_reward_events", {
          channel_id: w.channelId,
          lead_id: (await ok("lead_external", { channel_id: w.channelId })).lead.id,
        });
        const approved = await ok("approve_rewards", { channel_id: w.channelId, reward_event_ids: reviewIds });
        assert.equal(approved.reward_events.length, 1);
        const rejected = await ok("reject_rewards", {
          channel_id: w.channelId,
          reward_event_ids: [...second.reward_events.map((r: { id: string }) => r.id), ...reviewIds],
          reason: "Test lead",
        });
        assert.equal(rejected.reward_events.length, 2);
        await ok("get_balances", { channel_id: w.channelId });
        const payout = await ok("create_payout", { channel_id: w.channelId });
        await ok("cancel_payout", { payout_id: payout.payout.id });
        const again = await ok("create_payout", { channel_id: w.channelId, currency: "USD" });
        await ok("mark_payout_paid", { payout_id: again.payout.id, reference: "SEPA-0001" });
        await ok("get_payouts", { channel_id: w.channelId });
        await ok("get_payouts", { channel_id: w.channelId, limit: 1 });
        await ok("get_balances", { channel_id: w.channelId });

        assert.deepEqual([...exercised].sort(), Object.keys(actions).sort(), "every action is exercised");
      },
    );

    await t.step("error answers match the documented error bodies and strings", async () => {
      const outsider = w.outsider.key;
      const cases: [string, Record<string, unknown>, string | undefined][] = [
        ["create_purchase", { lead_id: w.leadId }, outsider],
        ["create_purchase", { lead_id: w.leadId }, w.referring.key],
        ["create_purchase", { lead_id: w.leadId, product_id: crypto.randomUUID() }, rk],
        ["create_purchase", { lead_id: w.leadId, trigger_ids: [crypto.randomUUID()] }, rk],
        ["create_purchase", { lead_id: w.leadId }, "sk_wrong"],
        ["get_leads", { channel_id: w.channelId }, outsider],
        ["get_leads", { channel_id: w.channelId, cursor: "nope" }, rk],
        ["update_status", { lead_id: w.leadId, status: "Nope" }, rk],
        ["update_status_id", { lead_id: w.leadId, status_id: crypto.randomUUID() }, rk],
        ["create_lead", {
          channel_id: w.channelId,
          properties: [{ property_definitions_id: crypto.randomUUID(), value: 1 }],
        }, rk],
        ["lead_external", { channel_id: crypto.randomUUID() }, undefined],
        ["refund_purchase", { purchase_id: purchase, amount: "999999" }, rk],
        ["refund_purchase", { purchase_id: purchase }, outsider],
        ["approve_rewards", { channel_id: w.channelId, reward_event_ids: [crypto.randomUUID()] }, rk],
        ["approve_rewards", { channel_id: w.channelId, reward_event_ids: reviewIds }, w.referring.key],
        ["create_payout", { channel_id: w.channelId }, rk],
        ["mark_payout_paid", { payout_id: crypto.randomUUID(), reference: "x" }, rk],
        ["get_balances", { channel_id: w.channelId }, outsider],
        ["create_purchase", { lead_id: w.leadId, external_id: "ord-1" }, rk],
        ["create_purchase_custom", { lead_id: w.leadId, external_id: "ord-1" }, rk],
        ["refund_purchase", { purchase_id: synced, external_id: "re_1" }, rk],
        [
          "import_purchases",
          { channel_id: w.channelId, purchases: [{ lead_id: w.leadId, external_id: "x" }] },
          outsider,
        ],
        ["import_purchases", {
          channel_id: w.channelId,
          purchases: [{ lead_id: w.leadId, external_id: "x" }],
        }, w.referring.key],
        ["connect_stripe", { channel_id: w.channelId, signing_secret: "whsec_x" }, w.referring.key],
        ["connect_stripe", { channel_id: w.channelId, signing_secret: "whsec_x" }, outsider],
        ["get_unmatched_sales", { cursor: "nope" }, rk],
        ["attach_sale", { unmatched_sale_id: crypto.randomUUID(), lead_id: w.leadId }, rk],
        ["dismiss_sale", { unmatched_sale_id: crypto.randomUUID(), reason: "x" }, rk],
      ];
      for (const [name, fields, key] of cases) {
        const reply = await call(handler, { action: name, ...fields }, { key });
        assert.ok(reply.status >= 400, `${name} ${JSON.stringify(fields)} answered ${reply.status}`);
        documentedError(name, reply);
      }
      const paid = (await call(handler, { action: "get_payouts", channel_id: w.channelId }, { key: rk })).body
        .payouts as { id: string; status: string }[];
      const done = paid.find((p) => p.status === "paid")!;
      for (const name of ["mark_payout_paid", "cancel_payout"]) {
        const reply = await call(handler, { action: name, payout_id: done.id, reference: "again" }, { key: rk });
        assert.equal(reply.status, 409);
        documentedError(name, reply);
      }
      const reused = await call(handler, { action: "cancel_payout", payout_id: done.id }, {
        key: rk,
        headers: { "Idempotency-Key": "k\u0001" },
      });
      documentedError("cancel_payout", reused);
      for (const raw of ["[]", "{", '{"action":"nope"}', "{}"]) {
        const reply = await call(handler, null, { raw, key: rk });
        assert.equal(reply.status, 400);
        assert.equal(schemas.error(400)(reply.body), true, raw);
      }
    });

    await t.step("paths, methods, content types and headers: the document and the server agree", async () => {
      const paths = document.paths as Record<string, Record<string, Answer>>;
      const send = (path: string, method: string, body?: string, headers: Record<string, string> = {}) =>
        handler(new Request(`${FUNCTION_URL}${path}`, { method, body, headers: { "X-Api-Key": rk, ...headers } }));
      const channels = '{"action":"get_channels"}';

      // A sub-path the document does not name is refused: 404, and no action runs.
      const [{ n: payoutsBefore }] = await sql`select count(*)::int as n from public.payouts`;
      for (const path of ["/create_payouts", "/v1", "/openapi-operations", "/docs/x"]) {
        assert.equal(paths[`/openapi-operations${path}`], undefined);
        const res = await send(path, "POST", `{"action":"create_payout","channel_id":"${w.channelId}"}`);
        assert.equal(res.status, 404, path);
        assert.deepEqual(await res.json(), {
          error: "Not found",
          code: "not_found",
          request_id: res.headers.get("x-request-id"),
        });
      }
      assert.deepEqual([...await sql`select count(*)::int as n from public.payouts`], [{ n: payoutsBefore }]);

      // Content types: each documented one is taken, as is none.
      const content = paths["/openapi-operations"].post.requestBody.content as Record<string, unknown>;
      assert.deepEqual(Object.keys(content), [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "*/*",
      ]);
      for (const type of [...Object.keys(content).filter((t) => t !== "*/*"), "application/octet-stream", undefined]) {
        const res = await send("", "POST", channels, type ? { "Content-Type": type } : {});
        assert.equal(res.status, 200, String(type));
        assert.equal(schemas.response("get_channels")(await res.json()), true);
      }

      // OPTIONS: 204 with no body and no Content-Type, as documented.
      const preflight = await send("", "OPTIONS");
      assert.deepEqual([preflight.status, preflight.headers.get("content-type"), await preflight.text()], [
        204,
        null,
        "",
      ]);
      assert.equal(paths["/openapi-operations"].options.responses[204].content, undefined);

      // Other methods: 405 with the documented body and Allow header, on each path the document names.
      const allows: [string, string, string][] = [
        ["", "get", "POST, OPTIONS"],
        ["", "put", "POST, OPTIONS"],
        ["", "patch", "POST, OPTIONS"],
        ["", "delete", "POST, OPTIONS"],
        ["/openapi.json", "post", "GET, OPTIONS"],
        ["/docs", "post", "GET, OPTIONS"],
      ];
      for (const [path, method, allow] of allows) {
        const documented = paths[`/openapi-operations${path}`][method].responses[405];
        assert.equal(documented.headers.Allow.schema.const, allow);
        const res = await send(path, method.toUpperCase(), method === "get" ? undefined : channels);
        const body = await res.json();
        assert.deepEqual([res.status, res.headers.get("allow")], [405, allow], `${method} ${path}`);
        assert.equal(schemas.component("Error405")(body), true, JSON.stringify(body));
      }

      // The Stripe route: a bad signature and an unknown connection, as documented.
      const stripePath = paths["/openapi-operations/stripe/{connection_id}"].post.responses;
      const [{ id: connectionId }] =
        await sql`select id from public.stripe_connections where channels_id = ${w.channelId}`;
      for (const [id, status] of [[connectionId, 400], [crypto.randomUUID(), 404]] as const) {
        const res = await send(`/stripe/${id}`, "POST", "{}", { "Stripe-Signature": "t=1,v1=00" });
        assert.equal(res.status, status);
        assert.equal(schemas.component(`StripeError${status}`)(await res.json()), true);
        assert.ok(stripePath[status]);
      }

      // The sweep route without its secret: the documented 401.
      const sweep = await send("/sweep-webhooks", "POST", "", { Authorization: "Bearer wrong" });
      assert.equal(sweep.status, 401);
      assert.equal(schemas.component("SweepError401")(await sweep.json()), true);
      assert.ok(paths["/openapi-operations/sweep-webhooks"].post.responses[401]);

      // The headers marked required are on the answers that name them.
      const headers = (document.components as { headers: Record<string, { required: boolean }> }).headers;
      assert.deepEqual(
        Object.fromEntries(Object.entries(headers).map(([name, h]) => [name, h.required])),
        { "X-Request-Id": true, "Idempotent-Replayed": false, "Retry-After": true },
      );
      const responses = paths["/openapi-operations"].post.responses as Record<string, { headers: Answer }>;
      assert.ok(responses[503].headers["Retry-After"] && responses[429].headers["Retry-After"]);
      assert.ok(Object.values(responses).every((r) => r.headers["X-Request-Id"]));
    });

    await t.step("bodies the server refuses with 400, the request schema refuses too", async () => {
      const L = w.leadId;
      const C = w.channelId;
      const P = purchase;
      const ids = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());
      const invalid: Record<string, Record<string, unknown>[]> = {
        create_purchase: [
          {},
          { lead_id: "" },
          { lead_id: null },
          { lead_id: "not-a-uuid" },
          { lead_id: L, product_id: "x" },
          { lead_id: L, purchase_amount: -1 },
          { lead_id: L, purchase_amount: "12,50" },
          { lead_id: L, purchase_amount: "1e5" },
          { lead_id: L, purchase_amount: 1e13 },
          { lead_id: L, purchase_amount: "1000000000000.01" },
          { lead_id: L, purchase_amount: "0.0000000000001" },
          { lead_id: L, purchase_amount: true },
          { lead_id: L, date: "April 1" },
          { lead_id: L, date: 20250401 },
          { lead_id: L, date: "2025-04-01T10:00:00+2" },
          { lead_id: L, date: "2025-02-29" },
          { lead_id: L, date: "2025-04-31" },
          { lead_id: L, date: "2025-13-01" },
          { lead_id: L, date: "0000-01-01" },
          { lead_id: L, date: "2025-04-01T24:00" },
          { lead_id: L, date: "2025-04-01T10:60" },
          { lead_id: L, date: "2025-04-01T10:00:60Z" },
          { lead_id: L, date: "2025-04-01T10:00+16" },
          { lead_id: L, purchase_amount: "1000000000000.0000000000001" },
          { lead_id: L, purchase_amount: 1e-13 },
          { lead_id: L, purchase_amount: 5e-324 },
          { lead_id: L, description: 5 },
          { lead_id: L, description: "x".repeat(10_001) },
          { lead_id: L, description: "a\u0000b" },
          { lead_id: L, product_name: "\ud800" },
          { lead_id: L, trigger_ids: "x" },
          { lead_id: L, trigger_ids: [1] },
          { lead_id: L, trigger_ids: ids(101) },
        ],
        create_purchase_custom: [{}, { lead_id: L, product_name: {} }, { lead_id: L, purchase_amount: [] }],
        get_channels: [],
        get_leads: [
          {},
          { channel_id: C, limit: 0 },
          { channel_id: C, limit: 101 },
          { channel_id: C, limit: "abc" },
          { channel_id: C, limit: "101" },
          { channel_id: C, limit: "0" },
          { channel_id: C, limit: "00000000000000001" },
          { channel_id: C, limit: " 5" },
          { channel_id: C, limit: 1.5 },
          { channel_id: C, cursor: 5 },
        ],
        get_lead_by_id: [{}, { lead_id: 42 }],
        get_lead_by_legacy_id: [
          {},
          { legacy_id: 0 },
          { legacy_id: "x" },
          { legacy_id: -1 },
          { legacy_id: 1.5 },
          { legacy_id: "0" },
          { legacy_id: "9007199254740992" },
          { legacy_id: "99999999999999999" },
          { legacy_id: 9007199254740992 },
        ],
        create_lead: [
          {},
          { channel_id: C, email: {} },
          { channel_id: C, properties: {} },
          { channel_id: C, properties: [5] },
          { channel_id: C, properties: [{ property_definitions_id: "x", value: 1 }] },
          { channel_id: C, properties: [{ property_definitions_id: plan.id, value: null }] },
          { channel_id: C, properties: [{ property_definitions_id: plan.id }] },
          { channel_id: C, properties: ids(101).map((id) => ({ property_definitions_id: id, value: 1 })) },
        ],
        lead_external: [{}, { channel_id: "abc" }, { channel_id: C, phone: true }],
        update_lead: [{}, { lead_id: L }, { lead_id: L, properties: [] }, { lead_id: L, email: [] }],
        update_status: [{}, { lead_id: L }, { status: "New" }, { lead_id: L, status: "" }, { lead_id: L, status: 5 }],
        update_status_id: [{ lead_id: L }, { lead_id: L, status_id: "x" }, { status_id: w.statusId }],
        get_purchases: [
          {},
          { lead_id: null, channel_id: null },
          { limit: 5 },
          { lead_id: "x" },
          { channel_id: C, external_id: "" },
          { channel_id: C, external_id: "a\nb" },
          { channel_id: C, external_id: "x".repeat(256) },
        ],
        import_purchases: [
          {},
          { channel_id: C },
          { channel_id: C, purchases: [] },
          { channel_id: C, purchases: {} },
          { channel_id: C, purchases: Array(1001).fill({ lead_id: L, external_id: "x" }) },
          { purchases: [{ lead_id: L, external_id: "x" }] },
        ],
        get_reward_events: [{}, { channel_id: C, purchase_id: "x" }, { channel_id: C, limit: 0 }],
        refund_purchase: [
          {},
          { purchase_id: P, amount: 0 },
          { purchase_id: P, amount: "0.00" },
          { purchase_id: P, amount: -5 },
          { purchase_id: P, reason: 1 },
          { purchase_id: P, external_id: 5 },
        ],
        approve_rewards: [
          { channel_id: C },
          { channel_id: C, reward_event_ids: [] },
          { channel_id: C, reward_event_ids: ["x"] },
          { channel_id: C, reward_event_ids: ids(1001) },
          { reward_event_ids: ids(1) },
        ],
        reject_rewards: [
          { channel_id: C, reward_event_ids: ids(1) },
          { channel_id: C, reward_event_ids: ids(1), reason: "" },
          { channel_id: C, reward_event_ids: null, reason: "x" },
        ],
        get_balances: [{}, { channel_id: "x" }],
        create_payout: [{}, { channel_id: C, currency: "usd" }, { channel_id: C, currency: "EURO" }],
        mark_payout_paid: [{ payout_id: P }, { reference: "x" }, { payout_id: P, reference: "" }],
        cancel_payout: [{}, { payout_id: "x" }],
        get_payouts: [{}, { channel_id: C, limit: 1000 }],
        connect_stripe: [{}, { channel_id: C }, { channel_id: C, signing_secret: "sk_live_x" }],
        get_unmatched_sales: [{ limit: 0 }, { cursor: 5 }],
        attach_sale: [{}, { unmatched_sale_id: "x", lead_id: L }, { unmatched_sale_id: P }],
        dismiss_sale: [{}, { unmatched_sale_id: P }, { unmatched_sale_id: P, reason: "" }],
      };
      assert.deepEqual(Object.keys(invalid).sort(), Object.keys(actions).sort(), "a table for every action");
      for (const [name, bodies] of Object.entries(invalid)) {
        for (const fields of bodies) {
          const body = { action: name, ...fields };
          const label = `${name} ${JSON.stringify(fields).slice(0, 120)}`;
          const reply = await call(handler, body, { key: actions[name].auth ? rk : undefined });
          assert.equal(reply.status, 400, `${label}: ${reply.text}`);
          documentedError(name, reply);
          assert.equal(schemas.request(name)(body), false, `${label} passes the schema`);
          assert.equal(schemas.request("ActionRequest")(body), false, `${label} passes the union`);
          refused.add(name);
        }
      }
      console.log(`refused by both: ${Object.values(invalid).flat().length} bodies over ${refused.size} actions`);
    });
  } finally {
    await env.close();
  }
});
