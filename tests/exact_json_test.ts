// Money and numbers keep their digits end to end: what a client sends in any valid JSON number
// form is stored exactly, and every response (first answer, idempotent replay, listing, refund)
// writes the stored digits back, through both database adapters.
import assert from "node:assert/strict";
import { call, postgrestStub, testEnv, world } from "./helpers.ts";
import { createSupabaseDb } from "../supabase/functions/_shared/db_supabase.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

Deno.test("exact money and numbers through both adapters", async (t) => {
  const env = testEnv();
  const { sql } = env;
  const adapters = {
    direct: env.handler,
    supabase: createHandler({
      db: createSupabaseDb("https://project-ref.supabase.co", "sb_secret_test", { fetch: postgrestStub(sql, []) }),
    }),
  };
  // A raw request body, so the number's JSON text reaches the server exactly as written here.
  const send = (handler: (req: Request) => Promise<Response>, key: string, text: string, headers = {}) =>
    call(handler, null, { key, raw: text, headers });
  try {
    for (const [name, handler] of Object.entries(adapters)) {
      await t.step(`${name}: purchase amounts come back with the stored digits, first answer and replay`, async () => {
        const w = await world(sql);
        await env.sql`insert into public.reward_triggers (channels_id, name, trigger, reward_type, amount, status)
          values (${w.channelId}, 'Ten percent', 'purchase', 'percentage', 10, 'Active')`;
        // Sent, stored, and the reward's amount (none when 10 % rounds to zero).
        const cases: [string, string, string | null][] = [
          ["2852199.999999999999", "2852199.999999999999", "285220.00"],
          ["123456789012.345678901234", "123456789012.345678901234", "12345678901.23"],
          ["0.000000000001", "0.000000000001", null],
          ["1.00000000000000001e11", "100000000000.000001", "10000000000.00"],
          ["1.000000000000000000e12", "1000000000000", "100000000000.00"],
          ['"12500.50"', "12500.5", "1250.05"],
        ];
        for (const [sent, stored, reward] of cases) {
          const body = `{"action":"create_purchase","lead_id":"${w.leadId}","purchase_amount":${sent}}`;
          const headers = { "Idempotency-Key": crypto.randomUUID() };
          const first = await send(handler, w.receiving.key, body, headers);
          assert.equal(first.status, 200, first.text);
          assert.ok(first.text.includes(`"purchase_amount":${stored},`), `${sent}: ${first.text}`);
          const id = (first.body.purchase as { id: string }).id;
          const [row] = await sql`select purchase_amount::text as amount from public.purchases where id = ${id}`;
          assert.equal(row.amount, stored);
          // The 10 % reward is rounded to cents from the exact amount.
          const expected = reward === null ? [] : [reward];
          const rewards = await sql`select amount::text from public.reward_events where purchases_id = ${id}`;
          assert.deepEqual(rewards.map((r) => r.amount), expected, sent);
          const answered = first.text.match(/"reward_events":\[(.*)\]/)![1];
          assert.deepEqual([...answered.matchAll(/"amount":([^,]*),/g)].map((m) => m[1]), expected, first.text);
          const replay = await send(handler, w.receiving.key, body, headers);
          assert.deepEqual([replay.headers.get("idempotent-replayed"), replay.text], ["true", first.text]);
        }
      });

      await t.step(`${name}: listings and refunds write the stored digits`, async () => {
        const w = await world(sql);
        const purchase = await send(
          handler,
          w.receiving.key,
          `{"action":"create_purchase","lead_id":"${w.leadId}","purchase_amount":2852199.999999999999}`,
        );
        const purchaseId = (purchase.body.purchase as { id: string }).id;
        const listed = await send(handler, w.receiving.key, `{"action":"get_purchases","lead_id":"${w.leadId}"}`);
        assert.equal(listed.status, 200, listed.text);
        assert.ok(listed.text.includes(`"purchase_amount":2852199.999999999999,`), listed.text);
        const refund = await send(
          handler,
          w.receiving.key,
          `{"action":"refund_purchase","purchase_id":"${purchaseId}","amount":1e-12}`,
        );
        assert.equal(refund.status, 200, refund.text);
        assert.ok(refund.text.includes(`"amount":0.000000000001,`), refund.text);
      });

      await t.step(
        `${name}: numeric lead fields are stored as their JSON text; property numbers keep theirs`,
        async () => {
          const w = await world(sql);
          // An object value goes to a text property (a number property takes only numbers).
          const [def] = await sql`insert into public.property_definitions (channels_id, name, type)
          values (${w.channelId}, 'details', 'text') returning id`;
          const [score] = await sql`insert into public.property_definitions (channels_id, name, type)
          values (${w.channelId}, 'score', 'number') returning id`;
          const reply = await send(
            handler,
            w.receiving.key,
            `{"action":"create_lead","channel_id":"${w.channelId}","phone":4915112345678901234,` +
              `"business_id":1.50,"notes":12,"properties":[{"property_definitions_id":"${def.id}",` +
              `"value":{"big":12345678901234567890,"huge":1e400,"small":0.1}}]}`,
          );
          assert.equal(reply.status, 200, reply.text);
          const lead = reply.body.lead as { id: string; phone: string; business_id: string; notes: string };
          assert.deepEqual([lead.phone, lead.business_id, lead.notes], ["4915112345678901234", "1.50", "12"]);
          const [value] = await sql`select value from public.property_values where leads_id = ${lead.id}`;
          assert.equal(value.value, '{"big":12345678901234567890,"huge":1e400,"small":0.1}');
          const top = await send(
            handler,
            w.receiving.key,
            `{"action":"update_lead","lead_id":"${lead.id}","properties":[{"property_definitions_id":"${score.id}",` +
              `"value":1e400}]}`,
          );
          assert.equal(top.status, 200, top.text);
          const [updated] = await sql`select value from public.property_values
            where leads_id = ${lead.id} and property_definitions_id = ${score.id}`;
          assert.equal(updated.value, "1e400");
        },
      );
    }
  } finally {
    await env.close();
  }
});
