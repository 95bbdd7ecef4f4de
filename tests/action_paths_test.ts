// One operation per action (API.md §8): every action of the registry is also served at
// `POST …/openapi-operations/<action>`, with the single URL's auth, validation, errors,
// idempotency and webhooks. The same scenario, which calls every action, runs twice on two
// identical worlds: once on the single URL, once on the per-action paths; each step must answer
// the same status and body (ids, times and cursors aside) and leave the same rows; a database
// that cannot be reached answers both forms the same 503.
import assert from "node:assert/strict";
import { actions } from "../supabase/functions/_shared/registry.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { freePort } from "../dev/cluster.ts";
import {
  call,
  DATABASE_URL,
  FUNCTION_URL,
  ops,
  type Reply,
  type TestEnv,
  testEnv,
  type World,
  world,
} from "./helpers.ts";

/** How a scenario sends an action: the single URL (`action` in the body) or the action's path. */
type Form = "single" | "path";

// deno-lint-ignore no-explicit-any
type Answer = Record<string, any>;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

// A body with what differs between two worlds replaced: ids, creation times, legacy ids, cursors.
function normalized(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((item) => normalized(item));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalized(v, k)]));
  }
  if (value === null) return null;
  if (["created_at", "paid_at", "legacy_id", "next_cursor"].includes(key)) return `<${key}>`;
  return typeof value === "string" ? value.replaceAll(UUID, "<id>") : value;
}

/** Sends an action in one form: on the path form the body has no `action` unless `fields` gives one. */
function sender(env: Pick<TestEnv, "handler">, form: Form) {
  return async (
    name: string,
    fields: Record<string, unknown>,
    options: { key?: string; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    if (form === "single") return await call(env.handler, { action: name, ...fields }, options);
    const res = await env.handler(
      new Request(`${FUNCTION_URL}/${name}`, {
        method: "POST",
        headers: { ...options.headers, ...(options.key ? { "X-Api-Key": options.key } : {}) },
        body: JSON.stringify(fields),
      }),
    );
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: JSON.parse(text), text };
  };
}

/** Rows of a world, by table: everything an action of the scenario can write. */
async function rowsOf(env: TestEnv, w: World) {
  const companies = [w.creator.id, w.referring.id, w.receiving.id, w.partner.id, w.outsider.id];
  const [row] = await env.sql`
    select
      (select count(*)::int from public.leads where channels_id = ${w.channelId}) as leads,
      (select count(*)::int from public.property_values v join public.leads l on l.id = v.leads_id
        where l.channels_id = ${w.channelId}) as property_values,
      (select count(*)::int from public.events e join public.leads l on l.id = e.leads_id
        where l.channels_id = ${w.channelId}) as events,
      (select count(*)::int from public.purchases p join public.leads l on l.id = p.leads_id
        where l.channels_id = ${w.channelId}) as purchases,
      (select count(*)::int from public.refunds r join public.purchases p on p.id = r.purchases_id
        join public.leads l on l.id = p.leads_id where l.channels_id = ${w.channelId}) as refunds,
      (select count(*)::int from public.reward_events where channels_id = ${w.channelId}) as reward_events,
      (select count(*)::int from public.payouts where channels_id = ${w.channelId}) as payouts,
      (select count(*)::int from public.webhook_deliveries where channels_id = ${w.channelId}) as webhook_deliveries,
      (select count(*)::int from public.idempotency_keys where companies_id = any(${companies}::uuid[]))
        as idempotency_keys`;
  return { ...row };
}

interface Step {
  name: string;
  status: number;
  replayed: boolean;
  body: unknown;
  rows: Record<string, number>;
}

/** A world with what every action needs: a property, a second status, purchase triggers, webhooks, the public intake. */
async function scenarioWorld(env: TestEnv) {
  const w = await world(env.sql, { holdDays: 0 });
  const plan = await ops.createProperty(env.sql, { channel: w.channelId, name: "Plan" });
  await ops.createStatus(env.sql, { channel: w.channelId, name: "Qualified", order: 5 });
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
  await env.sql`update public.channels set no_auth_api = true, intake_per_minute = 1000,
    webhook_new_lead = 'https://hooks.example.com/new', webhook_status_update = 'https://hooks.example.com/status'
    where id = ${w.channelId}`;
  const [{ legacy_id: legacyId }] = await env.sql`select legacy_id from public.leads where id = ${w.leadId}`;
  return { w, planId: plan.id as string, legacyId: legacyId as number };
}

// Every action of the registry, successes and errors, with and without Idempotency-Key, in one form.
async function runScenario(env: TestEnv, form: Form): Promise<Step[]> {
  const { w, planId, legacyId } = await scenarioWorld(env);
  const send = sender(env, form);
  const rk = w.receiving.key;
  const steps: Step[] = [];
  let n = 0;
  const step = async (name: string, fields: Record<string, unknown>, options: { key?: string; idem?: string } = {}) => {
    const key = "key" in options ? options.key : actions[name].auth ? rk : undefined;
    const headers: Record<string, string> = { "X-Request-Id": `step-${++n}` };
    if (options.idem) headers["Idempotency-Key"] = options.idem;
    const reply = await send(name, fields, { key, headers });
    steps.push({
      name,
      status: reply.status,
      replayed: reply.headers.get("idempotent-replayed") === "true",
      body: normalized(reply.body),
      rows: await rowsOf(env, w),
    });
    return reply.body as Answer;
  };

  await step("get_channels", {});
  const created = await step("create_lead", {
    channel_id: w.channelId,
    email: "ada@example.com",
    properties: [{ property_definitions_id: planId, value: 42 }],
  }, { idem: "lead-1" });
  await step("create_lead", { channel_id: w.channelId, email: "ada@example.com" }, { idem: "lead-1" });
  const lead = created.lead.id as string;
  await step("lead_external", { channel_id: w.channelId, email: "pub@example.com" });
  await step("get_leads", { channel_id: w.channelId, limit: 2 });
  await step("get_lead_by_id", { lead_id: lead });
  await step("get_lead_by_legacy_id", { legacy_id: legacyId });
  await step("update_lead", { lead_id: lead, phone: "+49 151 1234", notes: null });
  await step("update_status", { lead_id: lead, status: "Qualified" });
  await step("update_status_id", { lead_id: lead, status_id: w.statusId });
  const bought = await step("create_purchase", {
    lead_id: w.leadId,
    product_id: w.productId,
    purchase_amount: "12500.50",
    date: "2025-04-01",
  }, { idem: "purchase-1" });
  await step("create_purchase", {
    lead_id: w.leadId,
    product_id: w.productId,
    purchase_amount: "12500.50",
    date: "2025-04-01",
  }, { idem: "purchase-1" });
  await step("create_purchase", { lead_id: w.leadId, purchase_amount: "1" }, { idem: "purchase-1" });
  await step("create_purchase", { lead_id: w.leadId }, { key: w.outsider.key });
  await step("create_purchase", { lead_id: w.leadId, purchase_amount: true });
  await step("create_purchase", { lead_id: w.leadId }, { key: "sk_wrong" });
  await step("create_purchase_custom", {
    lead_id: w.leadId,
    product_name: "Consulting",
    purchase_amount: "1500",
    date: "2025-04-02",
  });
  await step("import_purchases", {
    channel_id: w.channelId,
    purchases: [
      { lead_id: w.leadId, external_id: "order-1", purchase_amount: "250", date: "2025-04-03" },
      { lead_id: w.leadId, external_id: "order-2", purchase_amount: "-1" },
      { lead_id: w.leadId, external_id: "order-1", purchase_amount: "250" },
    ],
  }, { idem: "import-1" });
  await step("import_purchases", {
    channel_id: w.channelId,
    purchases: [{ lead_id: w.leadId, external_id: "order-1", purchase_amount: "250", date: "2025-04-03" }],
  });
  await step("get_purchases", { lead_id: w.leadId });
  await step("refund_purchase", { purchase_id: bought.purchase.id, amount: "500.25" }, { idem: "refund-1" });
  await step("refund_purchase", { purchase_id: bought.purchase.id, amount: "999999" });
  const rewards = await step("get_reward_events", { channel_id: w.channelId });
  const ids = (rewards.reward_events as { id: string }[]).map((r) => r.id);
  await step("reject_rewards", { channel_id: w.channelId, reward_event_ids: ids.slice(0, 1), reason: "Test" });
  await step("approve_rewards", { channel_id: w.channelId, reward_event_ids: ids });
  await step("get_balances", { channel_id: w.channelId });
  const payout = await step("create_payout", { channel_id: w.channelId });
  await step("cancel_payout", { payout_id: payout.payout.id });
  const again = await step("create_payout", { channel_id: w.channelId });
  await step("mark_payout_paid", { payout_id: again.payout.id, reference: "SEPA-1" }, { idem: "paid-1" });
  await step("mark_payout_paid", { payout_id: again.payout.id, reference: "SEPA-1" });
  await step("get_payouts", { channel_id: w.channelId });
  await step("connect_stripe", { channel_id: w.channelId, signing_secret: "whsec_paths" });
  await step("get_unmatched_sales", {});
  const unknownSale = "00000000-0000-4000-8000-000000000000";
  await step("attach_sale", { unmatched_sale_id: unknownSale, lead_id: w.leadId });
  await step("dismiss_sale", { unmatched_sale_id: unknownSale, reason: "Test" });
  return steps;
}

Deno.test("every action answers the same on its own path as on the single URL (API.md §8)", async () => {
  const env = testEnv();
  try {
    const single = await runScenario(env, "single");
    const path = await runScenario(env, "path");
    assert.deepEqual(new Set(single.map((s) => s.name)), new Set(Object.keys(actions)), "every action is exercised");
    assert.ok(single.some((s) => s.replayed) && single.some((s) => s.status === 422));
    assert.ok(single.some((s) => s.status === 403) && single.some((s) => s.status === 401));
    assert.ok(single.some((s) => s.rows.webhook_deliveries > 0));
    assert.equal(path.length, single.length);
    for (const [i, expected] of single.entries()) {
      assert.deepEqual(path[i], expected, `step ${i + 1} (${expected.name})`);
    }
  } finally {
    await env.close();
  }
});

Deno.test("one Idempotency-Key replays across the two forms, whichever comes first", async () => {
  const env = testEnv();
  try {
    const w = await world(env.sql);
    const fields = { lead_id: w.leadId, purchase_amount: "249.99", date: "2025-04-01" };
    const key = w.receiving.key;
    const forms: [Form, Form, Record<string, unknown>][] = [
      ["single", "path", {}],
      ["path", "single", {}],
      ["path", "path", { action: "create_purchase" }],
    ];
    for (const [i, [first, second, extra]] of forms.entries()) {
      const headers = { "Idempotency-Key": `both-${i}` };
      const a = await sender(env, first)("create_purchase", fields, { key, headers });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.headers.get("idempotent-replayed"), null);
      const b = await sender(env, second)("create_purchase", { ...fields, ...extra }, { key, headers });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.headers.get("idempotent-replayed"), "true");
      assert.equal(b.text, a.text);
      const [{ n }] = await env.sql`select count(*)::int as n from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(n, i + 1);
    }
    // Another request under a key used on the other form is still another request.
    const other = await sender(env, "path")("create_purchase", { ...fields, purchase_amount: "1" }, {
      key,
      headers: { "Idempotency-Key": "both-0", "X-Request-Id": "reused" },
    });
    assert.deepEqual({ status: other.status, body: other.body }, {
      status: 422,
      body: {
        error: "Idempotency-Key reused with a different request",
        code: "idempotency_key_reused",
        request_id: "reused",
      },
    });
  } finally {
    await env.close();
  }
});

Deno.test("on an action's path, `action` in the body must name it; other sub-paths answer 404", async (t) => {
  const env = testEnv();
  try {
    const w = await world(env.sql);
    const key = w.receiving.key;
    const purchases = async () =>
      (await env.sql`select count(*)::int as n from public.purchases where leads_id = ${w.leadId}`)[0].n;
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      env.handler(
        new Request(`${FUNCTION_URL}${path}`, {
          method: "POST",
          body,
          headers: { "X-Api-Key": key, "X-Request-Id": "paths-1", ...headers },
        }),
      );

    await t.step("another, null or empty action answers 400 action_mismatch before the key is read", async () => {
      for (const action of ["get_channels", null, "", "CREATE_PURCHASE", 1]) {
        for (const apiKey of [key, "sk_wrong"]) {
          const res = await post("/create_purchase", JSON.stringify({ action, lead_id: w.leadId }), {
            "X-Api-Key": apiKey,
          });
          assert.equal(res.status, 400, JSON.stringify(action));
          assert.deepEqual(await res.json(), {
            error: "action does not match the path",
            code: "action_mismatch",
            request_id: "paths-1",
          });
        }
      }
      assert.equal(await purchases(), 0);
    });

    await t.step("the JSON check comes first: a body that is not a JSON object is 400 invalid_json", async () => {
      const res = await post("/create_purchase", "[]");
      assert.equal(res.status, 400);
      assert.equal((await res.json()).code, "invalid_json");
    });

    await t.step("a sub-path that names no action answers 404 Not found and writes nothing", async () => {
      const body = JSON.stringify({ action: "create_purchase", lead_id: w.leadId });
      for (
        const path of ["/create_purchases", "/Create_purchase", "/create_purchase/", "/create_purchase/x", "/docs"]
      ) {
        const res = await post(path, body);
        assert.equal(res.status, path === "/docs" ? 405 : 404, path);
        if (res.status === 404) {
          assert.deepEqual(await res.json(), { error: "Not found", code: "not_found", request_id: "paths-1" });
        } else await res.body?.cancel();
      }
      assert.equal(await purchases(), 0);
    });

    await t.step("another method on an action's path answers 405 (Allow: POST, OPTIONS); OPTIONS 204", async () => {
      for (const method of ["GET", "PUT", "DELETE"]) {
        const res = await env.handler(new Request(`${FUNCTION_URL}/get_channels`, { method }));
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get("allow"), "POST, OPTIONS");
        assert.equal((await res.json()).code, "method_not_allowed");
      }
      for (const path of ["/get_channels", "/nope", "/openapi.json", "/sweep-webhooks", ""]) {
        const res = await env.handler(new Request(`${FUNCTION_URL}${path}`, { method: "OPTIONS" }));
        assert.equal(res.status, 204, path);
        assert.equal(res.headers.get("access-control-allow-methods"), "POST, OPTIONS");
        assert.equal(await res.text(), "");
      }
    });

    await t.step("the sweep route and the GET routes are not actions", async () => {
      const sweep = await post("/sweep-webhooks", "{}");
      assert.equal(sweep.status, 401);
      assert.equal((await sweep.json()).code, "invalid_sweep_secret");
      const doc = await env.handler(new Request(`${FUNCTION_URL}/openapi.json`));
      assert.equal(doc.status, 200);
      await doc.body?.cancel();
    });
  } finally {
    await env.close();
  }
});

Deno.test("an unreachable database answers 503 with Retry-After on both forms alike", async () => {
  const nowhere = new URL(DATABASE_URL);
  nowhere.port = String(freePort());
  const db = createPostgresDb(nowhere.toString());
  const handler = createHandler({ db, logError: () => {} });
  const env = { handler } as Pick<TestEnv, "handler">;
  try {
    const fields = { lead_id: crypto.randomUUID(), purchase_amount: "1" };
    const options = { key: `sk_${"a".repeat(48)}`, headers: { "X-Request-Id": "down-1", "Idempotency-Key": "down" } };
    const replies = [];
    for (const form of ["single", "path"] as const) {
      const reply = await sender(env, form)("create_purchase", fields, options);
      replies.push({ status: reply.status, retryAfter: reply.headers.get("retry-after"), body: reply.body });
    }
    const unavailable = {
      status: 503,
      retryAfter: "1",
      body: { error: "Service unavailable", code: "service_unavailable", request_id: "down-1" },
    };
    assert.deepEqual(replies, [unavailable, unavailable]);
  } finally {
    await db.close();
  }
});
