// Sales from Stripe (API.md §10): the route's checks, each event kind, attribution, exactly once,
// refunds, currencies and the unmatched list. Payloads start from Stripe's fixture objects in
// tests/fixtures/stripe/ and are signed with the stripe package; no test calls Stripe.
import assert from "node:assert/strict";
import { act, errorBody, ops, type Reply, sendStripe, statusAndBody, type TestEnv, testEnv, world } from "./helpers.ts";
import type { World } from "./helpers.ts";

const SECRET = "whsec_testsecret0123456789";

type Json = Record<string, unknown>;

function fixture(name: string): Json {
  return JSON.parse(Deno.readTextFileSync(new URL(`./fixtures/stripe/${name}.json`, import.meta.url)));
}

function stripeId(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

function event(type: string, object: unknown, id = stripeId("evt")): Json {
  return { ...fixture("event"), id, type, data: { object } };
}

function invoice(o: {
  amount: number;
  currency?: string;
  customer?: string;
  email?: string | null;
  leadId?: string;
  subscriptionLeadId?: string;
  id?: string;
}): Json {
  const base = fixture("invoice");
  return {
    ...base,
    id: o.id ?? stripeId("in"),
    amount_paid: o.amount,
    amount_due: o.amount,
    amount_remaining: 0,
    currency: o.currency ?? "usd",
    customer: o.customer ?? stripeId("cus"),
    customer_email: o.email ?? null,
    metadata: o.leadId ? { lead_id: o.leadId } : {},
    parent: {
      quote_details: null,
      subscription_details: {
        metadata: o.subscriptionLeadId ? { lead_id: o.subscriptionLeadId } : {},
        subscription: stripeId("sub"),
      },
      type: "subscription_details",
    },
    status: "paid",
    status_transitions: {
      finalized_at: 1764806400,
      marked_uncollectible_at: null,
      paid_at: 1764806400,
      voided_at: null,
    },
  };
}

function session(o: {
  mode: "payment" | "subscription";
  amount?: number;
  currency?: string;
  paymentIntent?: string;
  customer?: string | null;
  clientReferenceId?: string;
  leadId?: string;
  email?: string;
  paid?: boolean;
}): Json {
  const base = fixture("checkout_session");
  return {
    ...base,
    id: stripeId("cs_test"),
    mode: o.mode,
    status: "complete",
    payment_status: o.paid === false ? "unpaid" : "paid",
    amount_total: o.amount ?? 0,
    currency: o.currency ?? "usd",
    payment_intent: o.mode === "payment" ? o.paymentIntent ?? stripeId("pi") : null,
    subscription: o.mode === "subscription" ? stripeId("sub") : null,
    customer: o.customer ?? null,
    client_reference_id: o.clientReferenceId ?? null,
    customer_details: { ...(base.customer_details as Json), email: o.email ?? null },
    metadata: o.leadId ? { lead_id: o.leadId } : {},
  };
}

function refund(o: { amount: number; currency?: string; paymentIntent?: string; status?: string; id?: string }): Json {
  return {
    ...fixture("refund"),
    id: o.id ?? stripeId("re"),
    amount: o.amount,
    currency: o.currency ?? "usd",
    payment_intent: o.paymentIntent ?? null,
    charge: stripeId("ch"),
    status: o.status ?? "succeeded",
  };
}

function send(
  env: TestEnv,
  connectionId: string,
  payload: unknown,
  options: { secret?: string; timestamp?: number; signature?: string | null } = {},
): Promise<Reply> {
  return sendStripe(env.handler, connectionId, payload, { ...options, secret: options.secret ?? SECRET });
}

function received(reply: Reply, outcome: string, detail: string | null = null) {
  assert.equal(reply.status, 200, reply.text);
  assert.deepEqual({ outcome: reply.body.outcome, detail: reply.body.detail }, { outcome, detail });
  assert.deepEqual(Object.keys(reply.body), ["received", "event_id", "outcome", "detail"]);
  assert.equal(reply.body.received, true);
}

interface Connected extends World {
  connectionId: string;
}

async function connected(env: TestEnv, options: { currency?: string } = {}): Promise<Connected> {
  const w = await world(env.sql, options);
  await ops.createTrigger(env.sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
  const reply = await act(env, w.receiving.key, "connect_stripe", { channel_id: w.channelId, signing_secret: SECRET });
  assert.equal(reply.status, 200, reply.text);
  return { ...w, connectionId: (reply.body.connection as Json).id as string };
}

async function purchasesOf(env: TestEnv, externalId: string) {
  return await env.sql`select leads_id, purchase_amount::text as amount, external_id from public.purchases
    where external_id = ${externalId}`;
}

async function eventCount(env: TestEnv, connectionId: string): Promise<number> {
  const [row] = await env
    .sql`select count(*)::int as n from public.stripe_events where connections_id = ${connectionId}`;
  return row.n;
}

async function refundsOf(env: TestEnv, externalId: string) {
  return await env.sql`select r.amount::text as amount, r.external_id,
      (select sum(e.amount)::text from public.reward_events e where e.refunds_id = r.id) as reversed
    from public.refunds r join public.purchases p on p.id = r.purchases_id
    where p.external_id = ${externalId} order by r.created_at`;
}

Deno.test("stripe", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("connect_stripe answers the endpoint, never the secret; only the receiving company", async () => {
      const w = await world(sql);
      const reply = await act(env, w.receiving.key, "connect_stripe", {
        channel_id: w.channelId,
        signing_secret: SECRET,
      });
      assert.equal(reply.status, 200, reply.text);
      const connection = reply.body.connection as Json;
      assert.deepEqual(connection, {
        id: connection.id,
        company_id: w.receiving.id,
        channel_id: w.channelId,
        created_at: connection.created_at,
        endpoint: `/functions/v1/openapi-operations/stripe/${connection.id}`,
        disconnected_at: null,
      });
      assert.ok(!reply.text.includes(SECRET));
      const [row] = await sql`select signing_secret from public.stripe_connections where id = ${connection
        .id as string}`;
      assert.equal(row.signing_secret, SECRET);

      const referring = await act(env, w.referring.key, "connect_stripe", {
        channel_id: w.channelId,
        signing_secret: SECRET,
      });
      assert.deepEqual(
        statusAndBody(referring),
        errorBody(referring, 403, "Only the receiving company can do this on this channel", "not_permitted"),
      );
      const bad = await act(env, w.receiving.key, "connect_stripe", { channel_id: w.channelId, signing_secret: "x" });
      assert.deepEqual(
        statusAndBody(bad),
        errorBody(bad, 400, "signing_secret must be a Stripe webhook signing secret (whsec_…)", "invalid_request"),
      );
      const [count] =
        await sql`select count(*)::int as n from public.stripe_connections where channels_id = ${w.channelId}`;
      assert.equal(count.n, 1);
    });

    await t.step("bad, missing or stale signatures, unknown connections and big bodies write nothing", async () => {
      const c = await connected(env);
      const payload = event("invoice.paid", invoice({ amount: 1000, leadId: c.leadId }));
      const cases: [string, Reply][] = [
        ["missing", await send(env, c.connectionId, payload, { signature: null })],
        ["wrong secret", await send(env, c.connectionId, payload, { secret: "whsec_other" })],
        ["stale", await send(env, c.connectionId, payload, { timestamp: Math.floor(Date.now() / 1000) - 301 })],
        ["garbage", await send(env, c.connectionId, payload, { signature: "t=1,v1=abc" })],
      ];
      for (const [name, reply] of cases) {
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Invalid signature", "invalid_signature"), name);
      }
      for (const id of [crypto.randomUUID(), "not-a-uuid"]) {
        const reply = await send(env, id, payload);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 404, "Connection not found", "connection_not_found"));
      }
      const big = await send(env, c.connectionId, "x".repeat(1024 * 1024 + 1), { signature: "t=1,v1=abc" });
      assert.deepEqual(statusAndBody(big), errorBody(big, 413, "Request body too large", "payload_too_large"));
      assert.equal(await eventCount(env, c.connectionId), 0);
      assert.deepEqual([...await purchasesOf(env, (payload.data as Json & { object: Json }).object.id as string)], []);

      await ops.disconnectStripe(sql, { id: c.connectionId });
      const gone = await send(env, c.connectionId, payload);
      assert.deepEqual(statusAndBody(gone), errorBody(gone, 404, "Connection not found", "connection_not_found"));
    });

    await t.step("an event of another kind is recorded as ignored", async () => {
      const c = await connected(env);
      const plan = fixture("event");
      const reply = await send(env, c.connectionId, plan);
      received(reply, "ignored");
      const rows = await sql`select event_id, type, outcome from public.stripe_events
        where connections_id = ${c.connectionId}`;
      assert.deepEqual([...rows], [{ event_id: plan.id, type: "plan.created", outcome: "ignored" }]);
    });

    await t.step("invoice.paid records a purchase of each paid invoice, renewals by the same customer", async () => {
      const c = await connected(env);
      const customer = stripeId("cus");
      const first = invoice({ amount: 4999, customer, subscriptionLeadId: c.leadId });
      received(await send(env, c.connectionId, event("invoice.paid", first)), "purchase");
      assert.deepEqual([...await purchasesOf(env, first.id as string)], [
        { leads_id: c.leadId, amount: "49.99", external_id: first.id },
      ]);
      const [reward] = await sql`select r.amount::text from public.reward_events r
        join public.purchases p on p.id = r.purchases_id where p.external_id = ${first.id as string}`;
      assert.equal(reward.amount, "5.00");

      const renewal = invoice({ amount: 4999, customer });
      received(await send(env, c.connectionId, event("invoice.paid", renewal)), "purchase");
      assert.deepEqual([...await purchasesOf(env, renewal.id as string)], [
        { leads_id: c.leadId, amount: "49.99", external_id: renewal.id },
      ]);

      const free = invoice({ amount: 0, customer });
      received(await send(env, c.connectionId, event("invoice.paid", free)), "ignored", "zero amount");
      assert.deepEqual([...await purchasesOf(env, free.id as string)], []);
    });

    await t.step("the same event twice, and five times at once, records one purchase", async () => {
      const c = await connected(env);
      const paid = event("invoice.paid", invoice({ amount: 1000, leadId: c.leadId }));
      const id = (paid.data as { object: Json }).object.id as string;
      received(await send(env, c.connectionId, paid), "purchase");
      received(await send(env, c.connectionId, paid), "duplicate");
      assert.equal((await purchasesOf(env, id)).length, 1);

      const again = event("invoice.paid", invoice({ amount: 1000, leadId: c.leadId }));
      const replies = await Promise.all([1, 2, 3, 4, 5].map(() => send(env, c.connectionId, again)));
      assert.deepEqual(replies.map((r) => r.body.outcome).sort(), [
        "duplicate",
        "duplicate",
        "duplicate",
        "duplicate",
        "purchase",
      ]);
      assert.equal((await purchasesOf(env, (again.data as { object: Json }).object.id as string)).length, 1);
    });

    await t.step("the same invoice by the API and by Stripe is one purchase", async () => {
      const c = await connected(env);
      const paid = invoice({ amount: 2500, leadId: c.leadId });
      const api = await act(env, c.receiving.key, "create_purchase", {
        lead_id: c.leadId,
        purchase_amount: 25,
        external_id: paid.id,
      });
      assert.equal(api.status, 200, api.text);
      received(await send(env, c.connectionId, event("invoice.paid", paid)), "purchase");
      const rows = await purchasesOf(env, paid.id as string);
      assert.deepEqual([...rows], [{ leads_id: c.leadId, amount: "25", external_id: paid.id }]);
      const [sale] = await sql`select status, purchases_id from public.stripe_sales where external_id = ${paid
        .id as string}`;
      assert.deepEqual({ ...sale }, { status: "recorded", purchases_id: (api.body.purchase as Json).id });
    });

    await t.step("a failure mid-transaction answers 500, writes nothing, and the retry records once", async () => {
      const c = await connected(env);
      const paid = event("invoice.paid", invoice({ amount: 1000, leadId: c.leadId }));
      const id = (paid.data as { object: Json }).object.id as string;
      await sql.unsafe(`create function public.test_fail_stripe() returns trigger language plpgsql as $$
        begin raise exception 'injected failure'; end $$`);
      await sql.unsafe(`create trigger test_fail_stripe before insert on public.reward_events
        for each row execute function public.test_fail_stripe()`);
      let failed: Reply;
      try {
        failed = await send(env, c.connectionId, paid);
      } finally {
        await sql.unsafe(`drop trigger test_fail_stripe on public.reward_events`);
        await sql.unsafe(`drop function public.test_fail_stripe()`);
      }
      assert.deepEqual(statusAndBody(failed), errorBody(failed, 500, "Internal server error", "internal_error"));
      assert.match(String(env.logged.at(-1)), /injected failure/);
      assert.equal(await eventCount(env, c.connectionId), 0);
      assert.deepEqual([...await purchasesOf(env, id)], []);
      received(await send(env, c.connectionId, paid), "purchase");
      assert.equal((await purchasesOf(env, id)).length, 1);
    });

    await t.step("checkout: payment mode records a purchase; subscription mode attributes its invoices", async () => {
      const c = await connected(env);
      const pay = session({ mode: "payment", amount: 12000, clientReferenceId: c.leadId });
      received(await send(env, c.connectionId, event("checkout.session.completed", pay)), "purchase");
      assert.deepEqual([...await purchasesOf(env, pay.payment_intent as string)], [
        { leads_id: c.leadId, amount: "120.00", external_id: pay.payment_intent },
      ]);
      const unpaid = session({ mode: "payment", amount: 500, clientReferenceId: c.leadId, paid: false });
      received(
        await send(env, c.connectionId, event("checkout.session.completed", unpaid)),
        "ignored",
        "not a paid payment",
      );

      const customer = stripeId("cus");
      const sub = session({ mode: "subscription", amount: 3000, customer, leadId: c.leadId });
      received(
        await send(env, c.connectionId, event("checkout.session.completed", sub)),
        "attributed",
        "0 waiting sale(s) attached",
      );
      const [none] = await sql`select count(*)::int as n from public.purchases where leads_id = ${c.leadId}`;
      assert.equal(none.n, 1);
      const first = invoice({ amount: 3000, customer });
      received(await send(env, c.connectionId, event("invoice.paid", first)), "purchase");
      assert.deepEqual([...await purchasesOf(env, first.id as string)], [
        { leads_id: c.leadId, amount: "30.00", external_id: first.id },
      ]);
    });

    await t.step("an invoice before its Checkout session waits unmatched and is attached when it arrives", async () => {
      const c = await connected(env);
      const customer = stripeId("cus");
      const early = invoice({ amount: 3000, customer });
      received(await send(env, c.connectionId, event("invoice.paid", early)), "unmatched", "no_lead");
      assert.deepEqual([...await purchasesOf(env, early.id as string)], []);
      const sub = session({ mode: "subscription", customer, clientReferenceId: c.leadId });
      received(
        await send(env, c.connectionId, event("checkout.session.completed", sub)),
        "attributed",
        "1 waiting sale(s) attached",
      );
      assert.deepEqual([...await purchasesOf(env, early.id as string)], [
        { leads_id: c.leadId, amount: "30.00", external_id: early.id },
      ]);
      const [sale] = await sql`select status, reason from public.stripe_sales where external_id = ${early
        .id as string}`;
      assert.deepEqual({ ...sale }, { status: "attached", reason: "no_lead" });
    });

    await t.step("email attribution: one lead matches; two leads make it unmatched", async () => {
      const c = await connected(env);
      const byEmail = invoice({ amount: 1500, email: "LEAD@example.com" });
      received(await send(env, c.connectionId, event("invoice.paid", byEmail)), "purchase");
      assert.deepEqual([...await purchasesOf(env, byEmail.id as string)], [
        { leads_id: c.leadId, amount: "15.00", external_id: byEmail.id },
      ]);
      await ops.createLead(sql, { channel: c.channelId, email: "lead@example.com" });
      const twice = invoice({ amount: 1500, email: "lead@example.com" });
      received(await send(env, c.connectionId, event("invoice.paid", twice)), "unmatched", "multiple_leads");
    });

    await t.step("refunds: partial then full, exactly each refund's amount, percentage rewards pro rata", async () => {
      const c = await connected(env);
      const pay = session({ mode: "payment", amount: 10000, clientReferenceId: c.leadId });
      const pi = pay.payment_intent as string;
      received(await send(env, c.connectionId, event("checkout.session.completed", pay)), "purchase");

      const pending = refund({ amount: 3000, paymentIntent: pi, status: "pending" });
      received(await send(env, c.connectionId, event("refund.created", pending)), "ignored", "refund not succeeded");
      received(
        await send(env, c.connectionId, event("refund.updated", { ...pending, status: "succeeded" })),
        "refund",
      );
      assert.deepEqual([...await refundsOf(env, pi)], [{
        amount: "30.00",
        external_id: pending.id,
        reversed: "-3.00",
      }]);

      const second = refund({ amount: 7000, paymentIntent: pi });
      const charge = {
        ...fixture("charge"),
        id: stripeId("ch"),
        amount: 10000,
        amount_refunded: 10000,
        refunded: true,
        payment_intent: pi,
        refunds: { object: "list", has_more: false, data: [{ ...pending, status: "succeeded" }, second] },
      };
      received(
        await send(env, c.connectionId, event("charge.refunded", charge)),
        "refund",
        `refund already received: ${pending.id}`,
      );
      assert.deepEqual([...await refundsOf(env, pi)], [
        { amount: "30.00", external_id: pending.id, reversed: "-3.00" },
        { amount: "70.00", external_id: second.id, reversed: "-7.00" },
      ]);
      const [total] = await sql`select sum(r.amount)::text as total from public.reward_events r
        join public.purchases p on p.id = r.purchases_id where p.external_id = ${pi}`;
      assert.equal(total.total, "0.00");
    });

    await t.step("a refund before its sale waits and is recorded with the sale", async () => {
      const c = await connected(env);
      const pi = stripeId("pi");
      const early = refund({ amount: 2000, paymentIntent: pi });
      received(await send(env, c.connectionId, event("refund.created", early)), "pending", "waiting for its sale");
      const pay = session({ mode: "payment", amount: 5000, paymentIntent: pi, clientReferenceId: c.leadId });
      received(await send(env, c.connectionId, event("checkout.session.completed", pay)), "purchase");
      assert.deepEqual([...await refundsOf(env, pi)], [{ amount: "20.00", external_id: early.id, reversed: "-2.00" }]);
    });

    await t.step("an invoice's refund finds its purchase through invoice_payment.paid", async () => {
      const c = await connected(env);
      const paid = invoice({ amount: 8000, leadId: c.leadId });
      const pi = stripeId("pi");
      const back = refund({ amount: 8000, paymentIntent: pi });
      received(await send(env, c.connectionId, event("refund.created", back)), "pending", "waiting for its sale");
      received(await send(env, c.connectionId, event("invoice.paid", paid)), "purchase");
      const link = {
        object: "invoice_payment",
        id: stripeId("inpay"),
        invoice: paid.id,
        status: "paid",
        payment: { type: "payment_intent", payment_intent: pi },
      };
      received(await send(env, c.connectionId, event("invoice_payment.paid", link)), "linked");
      assert.deepEqual([...await refundsOf(env, paid.id as string)], [
        { amount: "80.00", external_id: back.id, reversed: "-8.00" },
      ]);
    });

    await t.step("JPY is zero-decimal and KWD three-decimal", async () => {
      const jpy = await connected(env, { currency: "JPY" });
      const yen = invoice({ amount: 5000, currency: "jpy", leadId: jpy.leadId });
      received(await send(env, jpy.connectionId, event("invoice.paid", yen)), "purchase");
      assert.deepEqual([...await purchasesOf(env, yen.id as string)], [
        { leads_id: jpy.leadId, amount: "5000", external_id: yen.id },
      ]);
      const kwd = await connected(env, { currency: "KWD" });
      const dinar = invoice({ amount: 12340, currency: "kwd", leadId: kwd.leadId });
      received(await send(env, kwd.connectionId, event("invoice.paid", dinar)), "purchase");
      assert.deepEqual([...await purchasesOf(env, dinar.id as string)], [
        { leads_id: kwd.leadId, amount: "12.340", external_id: dinar.id },
      ]);
    });

    await t.step(
      "unmatched sales: listed with their reason, attached or dismissed by the receiving company",
      async () => {
        const c = await connected(env);
        const noLead = invoice({ amount: 1000 });
        const otherCurrency = invoice({ amount: 1000, currency: "eur", leadId: c.leadId });
        const oddShape: Json = { ...invoice({ amount: 1000 }), amount_paid: "1000" };
        received(await send(env, c.connectionId, event("invoice.paid", noLead)), "unmatched", "no_lead");
        received(await send(env, c.connectionId, event("invoice.paid", otherCurrency)), "unmatched", "currency");
        received(await send(env, c.connectionId, event("invoice.paid", oddShape)), "unmatched", "unknown_shape");

        const list = await act(env, c.receiving.key, "get_unmatched_sales", {});
        assert.equal(list.status, 200, list.text);
        const sales = (list.body.unmatched_sales as Json[]).filter((s) => s.channel_id === c.channelId);
        assert.deepEqual(sales.map((s) => [s.external_id, s.reason, s.amount, s.currency]), [
          [oddShape.id, "unknown_shape", null, "USD"],
          [otherCurrency.id, "currency", 10, "EUR"],
          [noLead.id, "no_lead", 10, "USD"],
        ]);
        const noLeadSale = sales[2];
        assert.deepEqual(Object.keys(noLeadSale), [
          "id",
          "created_at",
          "channel_id",
          "status",
          "reason",
          "external_id",
          "amount",
          "currency",
          "customer",
          "email",
          "stripe_event_id",
          "purchase_id",
          "dismiss_reason",
        ]);
        const referring = await act(env, c.referring.key, "get_unmatched_sales", {});
        assert.deepEqual(referring.body, { unmatched_sales: [], next_cursor: null });

        const byOther = await act(env, c.referring.key, "attach_sale", {
          unmatched_sale_id: noLeadSale.id,
          lead_id: c.leadId,
        });
        assert.deepEqual(
          statusAndBody(byOther),
          errorBody(byOther, 404, "Unmatched sale not found", "unmatched_sale_not_found"),
        );
        const elsewhere = await world(sql);
        const wrongLead = await act(env, c.receiving.key, "attach_sale", {
          unmatched_sale_id: noLeadSale.id,
          lead_id: elsewhere.leadId,
        });
        assert.deepEqual(
          statusAndBody(wrongLead),
          errorBody(wrongLead, 403, "Lead not accessible", "lead_not_accessible"),
        );

        const attached = await act(env, c.receiving.key, "attach_sale", {
          unmatched_sale_id: noLeadSale.id,
          lead_id: c.leadId,
        });
        assert.equal(attached.status, 200, attached.text);
        const [purchase] = await purchasesOf(env, noLead.id as string);
        assert.deepEqual({ ...purchase }, { leads_id: c.leadId, amount: "10.00", external_id: noLead.id });
        const sale = attached.body.unmatched_sale as Json;
        assert.equal(sale.status, "attached");
        const again = await act(env, c.receiving.key, "attach_sale", {
          unmatched_sale_id: noLeadSale.id,
          lead_id: c.leadId,
        });
        assert.deepEqual(again.body, attached.body);
        assert.equal((await purchasesOf(env, noLead.id as string)).length, 1);

        const currencySale = sales[1];
        const refused = await act(env, c.receiving.key, "attach_sale", {
          unmatched_sale_id: currencySale.id,
          lead_id: c.leadId,
        });
        assert.deepEqual(
          statusAndBody(refused),
          errorBody(refused, 409, "Sale is not in the channel's currency", "sale_currency"),
        );
        const dismissed = await act(env, c.receiving.key, "dismiss_sale", {
          unmatched_sale_id: currencySale.id,
          reason: "Paid in euros by mistake",
        });
        assert.equal(dismissed.status, 200, dismissed.text);
        assert.deepEqual(
          [(dismissed.body.unmatched_sale as Json).status, (dismissed.body.unmatched_sale as Json).dismiss_reason],
          ["dismissed", "Paid in euros by mistake"],
        );
        const attachDismissed = await act(env, c.receiving.key, "attach_sale", {
          unmatched_sale_id: currencySale.id,
          lead_id: c.leadId,
        });
        assert.deepEqual(
          statusAndBody(attachDismissed),
          errorBody(attachDismissed, 409, "Sale was dismissed", "sale_dismissed"),
        );
        const dismissAttached = await act(env, c.receiving.key, "dismiss_sale", {
          unmatched_sale_id: noLeadSale.id,
          reason: "x",
        });
        assert.deepEqual(
          statusAndBody(dismissAttached),
          errorBody(dismissAttached, 409, "Sale was attached", "sale_attached"),
        );
        const left = await act(env, c.receiving.key, "get_unmatched_sales", {});
        assert.deepEqual(
          (left.body.unmatched_sales as Json[]).filter((s) => s.channel_id === c.channelId).map((s) => s.external_id),
          [oddShape.id],
        );
        const listed = await ops.listUnmatchedSales(sql, { channel: c.channelId });
        assert.deepEqual(listed.map((s) => s.external_id), [oddShape.id]);
      },
    );

    await t.step("a refund of an unmatched sale stays with it and is recorded when it is attached", async () => {
      const c = await connected(env);
      const pay = session({ mode: "payment", amount: 4000 });
      const pi = pay.payment_intent as string;
      received(await send(env, c.connectionId, event("checkout.session.completed", pay)), "unmatched", "no_lead");
      const back = refund({ amount: 1000, paymentIntent: pi });
      received(await send(env, c.connectionId, event("refund.created", back)), "pending", "waiting for its sale");
      const [sale] = await sql`select id from public.stripe_sales where external_id = ${pi}`;
      const attached = await act(env, c.receiving.key, "attach_sale", {
        unmatched_sale_id: sale.id,
        lead_id: c.leadId,
      });
      assert.equal(attached.status, 200, attached.text);
      assert.deepEqual([...await refundsOf(env, pi)], [{ amount: "10.00", external_id: back.id, reversed: "-1.00" }]);
    });

    await t.step("admin stripe connect, list and disconnect never show the secret", async () => {
      const w = await world(sql);
      await assert.rejects(
        ops.connectStripe(sql, { company: w.referring.id, channel: w.channelId, signingSecret: SECRET }),
        /The company is not the channel's receiving company/,
      );
      await assert.rejects(
        ops.connectStripe(sql, { company: w.receiving.id, channel: w.channelId, signingSecret: "secret" }),
        /--signing-secret must be a Stripe webhook signing secret/,
      );
      const connection = await ops.connectStripe(sql, {
        company: w.receiving.id,
        channel: w.channelId,
        signingSecret: SECRET,
      });
      assert.equal(connection.endpoint, `/functions/v1/openapi-operations/stripe/${connection.id}`);
      const listed = await ops.listStripeConnections(sql, { company: w.receiving.id });
      assert.deepEqual(listed, [connection]);
      assert.ok(!JSON.stringify(listed).includes(SECRET));
      const gone = await ops.disconnectStripe(sql, { id: connection.id as string });
      assert.equal(typeof gone.disconnected_at, "string");
      assert.ok(!JSON.stringify(gone).includes(SECRET));
    });

    await t.step("a connection whose company no longer receives for the channel is not found", async () => {
      const c = await connected(env);
      await sql`update public.channels set receiving_id = ${c.partner.id} where id = ${c.channelId}`;
      const reply = await send(env, c.connectionId, event("invoice.paid", invoice({ amount: 1000, leadId: c.leadId })));
      assert.deepEqual(statusAndBody(reply), errorBody(reply, 404, "Connection not found", "connection_not_found"));
      assert.equal(await eventCount(env, c.connectionId), 0);
    });

    await t.step("metadata on a later invoice attributes the customer's waiting invoice", async () => {
      const c = await connected(env);
      const customer = stripeId("cus");
      const early = invoice({ amount: 2000, customer });
      received(await send(env, c.connectionId, event("invoice.paid", early)), "unmatched", "no_lead");
      const later = invoice({ amount: 2000, customer, leadId: c.leadId });
      received(await send(env, c.connectionId, event("invoice.paid", later)), "purchase");
      for (const paid of [early, later]) {
        assert.deepEqual([...await purchasesOf(env, paid.id as string)], [
          { leads_id: c.leadId, amount: "20.00", external_id: paid.id },
        ]);
      }
    });

    await t.step("a Checkout session that created an invoice and that invoice are one sale", async () => {
      const c = await connected(env);
      const paid = invoice({ amount: 6000 });
      received(await send(env, c.connectionId, event("invoice.paid", paid)), "unmatched", "no_lead");
      const checkout: Json = {
        ...session({ mode: "payment", amount: 6000, clientReferenceId: c.leadId }),
        invoice: paid.id,
      };
      received(
        await send(env, c.connectionId, event("checkout.session.completed", checkout)),
        "purchase",
        "the waiting sale attached",
      );
      assert.deepEqual([...await purchasesOf(env, paid.id as string)], [
        { leads_id: c.leadId, amount: "60.00", external_id: paid.id },
      ]);
      assert.deepEqual([...await purchasesOf(env, checkout.payment_intent as string)], []);
      const back = refund({ amount: 6000, paymentIntent: checkout.payment_intent as string });
      received(await send(env, c.connectionId, event("refund.created", back)), "refund");
      assert.deepEqual([...await refundsOf(env, paid.id as string)], [
        { amount: "60.00", external_id: back.id, reversed: "-6.00" },
      ]);
    });

    await t.step("a refund of a sale recorded through the API; more than is left is kept as refused", async () => {
      const c = await connected(env);
      const pi = stripeId("pi");
      const api = await act(env, c.receiving.key, "create_purchase", {
        lead_id: c.leadId,
        purchase_amount: "10.00",
        external_id: pi,
      });
      assert.equal(api.status, 200, api.text);
      const first = refund({ amount: 400, paymentIntent: pi });
      received(await send(env, c.connectionId, event("refund.created", first)), "refund");
      const tooMuch = refund({ amount: 700, paymentIntent: pi });
      received(
        await send(env, c.connectionId, event("refund.created", tooMuch)),
        "refused",
        null,
      );
      const rows = await sql`select refund_id, status, detail from public.stripe_refunds
        where connections_id = ${c.connectionId} order by created_at`;
      assert.deepEqual([...rows], [
        { refund_id: first.id, status: "recorded", detail: null },
        { refund_id: tooMuch.id, status: "refused", detail: "Refund exceeds refundable amount" },
      ]);
      assert.deepEqual([...await refundsOf(env, pi)], [{ amount: "4.00", external_id: first.id, reversed: "-0.40" }]);
    });

    await t.step("no payload shape answers a 5xx", async () => {
      const c = await connected(env);
      const shapes: unknown[] = [
        { id: stripeId("evt"), type: "invoice.paid" },
        { id: stripeId("evt"), type: "invoice.paid", data: { object: null } },
        { id: stripeId("evt"), type: "invoice.paid", data: { object: [1, 2] } },
        { id: stripeId("evt"), type: "invoice.paid", data: { object: { id: 5, amount_paid: -1, currency: 3 } } },
        { id: stripeId("evt"), type: "invoice.paid", data: { object: { ...invoice({ amount: 1e20 }) } } },
        { id: stripeId("evt"), type: "checkout.session.completed", data: { object: { mode: "payment" } } },
        {
          id: stripeId("evt"),
          type: "checkout.session.completed",
          data: { object: { mode: "subscription", customer: 7, client_reference_id: ["x"] } },
        },
        { id: stripeId("evt"), type: "refund.created", data: { object: { id: 1, status: "succeeded" } } },
        { id: stripeId("evt"), type: "refund.updated", data: { object: { id: "re_1", status: "succeeded" } } },
        { id: stripeId("evt"), type: "charge.refunded", data: { object: { refunds: "x" } } },
        { id: stripeId("evt"), type: "charge.refunded", data: { object: { refunds: { data: [null, 3, {}] } } } },
        { id: stripeId("evt"), type: "invoice_payment.paid", data: { object: { invoice: {} } } },
        { id: stripeId("evt"), type: 5 },
        [],
        "text",
      ];
      const loggedBefore = env.logged.length;
      for (const shape of shapes) {
        const reply = await send(env, c.connectionId, shape);
        assert.ok(reply.status < 500, `${JSON.stringify(shape)}: ${reply.text}`);
      }
      assert.deepEqual(env.logged.slice(loggedBefore), []);
    });
  } finally {
    await env.close();
  }
});
