// external_id on create_purchase, create_purchase_custom and refund_purchase (docs/guide.md, "Backfilling and syncing
// sales"): a repeat answers 409 with the recorded id and writes nothing, also when the repeats are concurrent; the
// object shows external_id only when it has one; get_purchases filters by it; an Idempotency-Key combines with it.
import assert from "node:assert/strict";
import { act, call, ops, type Reply, testEnv, world, writtenFor } from "./helpers.ts";

// The 409 of a repeated external_id, with the recorded id beside the request id.
function duplicateBody(reply: Reply, error: string, idField: string, id: string) {
  return {
    status: 409,
    body: { error, code: "duplicate_external_id", request_id: reply.headers.get("x-request-id"), [idField]: id },
  };
}

Deno.test("external_id", async (t) => {
  const env = await testEnv();
  const { sql } = env;
  try {
    for (const action of ["create_purchase", "create_purchase_custom"]) {
      await t.step(`${action}: a repeat answers 409 with the recorded purchase_id and writes nothing`, async () => {
        const w = await world(sql);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
        const first = await act(env, w.receiving.key, action, {
          lead_id: w.leadId,
          purchase_amount: 100,
          product_name: "Plan",
          external_id: "order-1",
        });
        assert.equal(first.status, 200);
        const purchase = first.body.purchase as Record<string, unknown>;
        assert.equal(purchase.external_id, "order-1");
        assert.deepEqual(Object.keys(purchase).slice(-2), ["name", "external_id"]);
        const before = await writtenFor(sql, w.leadId);
        assert.deepEqual(before, { purchases: 1, events: 1, reward_events: 1 });
        const again = await act(env, w.receiving.key, action, {
          lead_id: w.leadId,
          purchase_amount: 999,
          external_id: "order-1",
        });
        assert.deepEqual(
          { status: again.status, body: again.body },
          duplicateBody(again, "Purchase already recorded: order-1", "purchase_id", purchase.id as string),
        );
        assert.deepEqual(await writtenFor(sql, w.leadId), before);
        const [row] = await sql`select external_id, companies_id from public.purchases where id = ${purchase
          .id as string}`;
        assert.deepEqual({ ...row }, { external_id: "order-1", companies_id: w.receiving.id });
      });

      await t.step(`${action}: concurrent repeats write one purchase; the others answer 409 with its id`, async () => {
        const w = await world(sql);
        await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "5" });
        const replies = await Promise.all(
          Array.from(
            { length: 8 },
            () => act(env, w.receiving.key, action, { lead_id: w.leadId, purchase_amount: 10, external_id: "pi_race" }),
          ),
        );
        const ok = replies.filter((r) => r.status === 200);
        assert.equal(ok.length, 1);
        const id = (ok[0].body.purchase as Record<string, string>).id;
        for (const reply of replies.filter((r) => r.status !== 200)) {
          assert.deepEqual(
            { status: reply.status, body: reply.body },
            duplicateBody(reply, "Purchase already recorded: pi_race", "purchase_id", id),
          );
        }
        assert.deepEqual(await writtenFor(sql, w.leadId), { purchases: 1, events: 1, reward_events: 1 });
      });
    }

    await t.step("external_id is unique per recording company, shared by both purchase actions", async () => {
      const w = await world(sql, { purchaseWriters: "any" });
      const mine = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, external_id: "inv-7" });
      assert.equal(mine.status, 200);
      const custom = await act(env, w.receiving.key, "create_purchase_custom", {
        lead_id: w.leadId,
        product_name: "x",
        external_id: "inv-7",
      });
      assert.equal(custom.status, 409);
      assert.equal(custom.body.purchase_id, (mine.body.purchase as Record<string, string>).id);
      // Another company's "inv-7" is another sale.
      const theirs = await act(env, w.creator.key, "create_purchase", { lead_id: w.leadId, external_id: "inv-7" });
      assert.equal(theirs.status, 200);
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 2);
    });

    await t.step("the seed-shaped request answers without external_id; checks before the duplicate win", async () => {
      const w = await world(sql);
      const plain = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 1 });
      assert.deepEqual(Object.keys(plain.body.purchase as object), [
        "id",
        "created_at",
        "leads_id",
        "products_id",
        "purchase_amount",
        "date",
        "description",
      ]);
      const seeded = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, external_id: "o-9" });
      assert.deepEqual(Object.keys(seeded.body.purchase as object).slice(-2), ["description", "external_id"]);
      // Access is checked first: the referring company does not learn of the receiving company's sale.
      const other = await act(env, w.referring.key, "create_purchase", { lead_id: w.leadId, external_id: "o-9" });
      assert.equal(other.status, 403);
      assert.equal(other.body.error, "Only the receiving company can record purchases on this channel");
    });

    await t.step("external_id must be 1 to 255 printable characters", async () => {
      const w = await world(sql);
      for (const bad of ["", "a\nb", "x".repeat(256), 42, "\ud800"]) {
        for (const action of ["create_purchase", "refund_purchase", "get_purchases"]) {
          const reply = await act(env, w.receiving.key, action, {
            lead_id: w.leadId,
            purchase_id: w.leadId,
            external_id: bad,
          });
          assert.deepEqual({ status: reply.status, error: reply.body.error }, {
            status: 400,
            error: "external_id must be 1 to 255 printable characters",
          });
        }
      }
      const longest = await act(env, w.receiving.key, "create_purchase", {
        lead_id: w.leadId,
        external_id: "é".repeat(255),
      });
      assert.equal(longest.status, 200);
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 1);
    });

    await t.step("get_purchases filters by external_id", async () => {
      const w = await world(sql);
      const a = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, external_id: "a-1" });
      await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, external_id: "a-2" });
      await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId });
      for (const filter of [{ channel_id: w.channelId }, { lead_id: w.leadId }]) {
        const listed = await act(env, w.referring.key, "get_purchases", { ...filter, external_id: "a-1" });
        assert.equal(listed.status, 200);
        const purchase = a.body.purchase as Record<string, unknown>;
        assert.deepEqual(listed.body, {
          purchases: [{ ...purchase, name: null, external_id: "a-1" }],
          next_cursor: null,
        });
        const none = await act(env, w.referring.key, "get_purchases", { ...filter, external_id: "zzz" });
        assert.deepEqual(none.body, { purchases: [], next_cursor: null });
      }
      const all = await act(env, w.receiving.key, "get_purchases", { channel_id: w.channelId });
      assert.deepEqual(
        (all.body.purchases as Record<string, unknown>[]).map((p) => p.external_id),
        [undefined, "a-2", "a-1"],
      );
    });

    await t.step("Idempotency-Key and external_id combine: same key replays, a new key answers 409", async () => {
      const w = await world(sql);
      const body = { action: "create_purchase", lead_id: w.leadId, purchase_amount: 3, external_id: "sync-1" };
      const first = await call(env.handler, body, { key: w.receiving.key, headers: { "Idempotency-Key": "k1" } });
      const replay = await call(env.handler, body, { key: w.receiving.key, headers: { "Idempotency-Key": "k1" } });
      assert.equal(first.status, 200);
      assert.deepEqual({
        status: replay.status,
        text: replay.text,
        replayed: replay.headers.get("idempotent-replayed"),
      }, {
        status: 200,
        text: first.text,
        replayed: "true",
      });
      const fresh = await call(env.handler, body, { key: w.receiving.key, headers: { "Idempotency-Key": "k2" } });
      assert.deepEqual(
        { status: fresh.status, body: fresh.body },
        duplicateBody(
          fresh,
          "Purchase already recorded: sync-1",
          "purchase_id",
          (first.body.purchase as { id: string }).id,
        ),
      );
      assert.equal((await writtenFor(sql, w.leadId)).purchases, 1);
      const [key] = await sql`select count(*)::int as n from public.idempotency_keys where key = 'k2'
        and companies_id = ${w.receiving.id}`;
      assert.equal(key.n, 0);
    });

    await t.step("refund_purchase: a repeat answers 409 with the recorded refund_id and writes nothing", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
      const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 100 });
      const purchaseId = (made.body.purchase as { id: string }).id;
      const first = await act(env, w.receiving.key, "refund_purchase", {
        purchase_id: purchaseId,
        amount: 10,
        external_id: "re_1",
      });
      assert.equal(first.status, 200);
      const refund = first.body.refund as Record<string, unknown>;
      assert.deepEqual(Object.keys(refund), ["id", "created_at", "purchases_id", "amount", "reason", "external_id"]);
      assert.equal(refund.external_id, "re_1");
      const counts = () =>
        sql`select (select count(*)::int from public.refunds where purchases_id = ${purchaseId}) as refunds,
          (select count(*)::int from public.reward_events where purchases_id = ${purchaseId}) as rewards,
          (select count(*)::int from public.events where purchases_id = ${purchaseId}) as events`;
      const [before] = await counts();
      assert.deepEqual({ ...before }, { refunds: 1, rewards: 2, events: 2 });
      // A repeat of the whole remainder: the duplicate wins over "exceeds".
      const again = await act(env, w.receiving.key, "refund_purchase", {
        purchase_id: purchaseId,
        external_id: "re_1",
      });
      assert.deepEqual(
        { status: again.status, body: again.body },
        duplicateBody(again, "Refund already recorded: re_1", "refund_id", refund.id as string),
      );
      const [after] = await counts();
      assert.deepEqual({ ...after }, { ...before });
      // Unique per purchase: another purchase may carry the same refund id.
      const other = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 5 });
      const elsewhere = await act(env, w.receiving.key, "refund_purchase", {
        purchase_id: (other.body.purchase as { id: string }).id,
        external_id: "re_1",
      });
      assert.equal(elsewhere.status, 200);
      // Without external_id the refund object keeps its keys.
      const plain = await act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId, amount: 1 });
      assert.deepEqual(Object.keys(plain.body.refund as object), [
        "id",
        "created_at",
        "purchases_id",
        "amount",
        "reason",
      ]);
    });

    await t.step("refund_purchase: concurrent repeats write one refund", async () => {
      const w = await world(sql);
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "percentage", amount: "10" });
      const made = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: 100 });
      const purchaseId = (made.body.purchase as { id: string }).id;
      const replies = await Promise.all(
        Array.from(
          { length: 8 },
          () =>
            act(env, w.receiving.key, "refund_purchase", { purchase_id: purchaseId, amount: 1, external_id: "re_x" }),
        ),
      );
      const ok = replies.filter((r) => r.status === 200);
      assert.equal(ok.length, 1);
      const id = (ok[0].body.refund as { id: string }).id;
      for (const reply of replies.filter((r) => r.status !== 200)) {
        assert.deepEqual(
          { status: reply.status, body: reply.body },
          duplicateBody(reply, "Refund already recorded: re_x", "refund_id", id),
        );
      }
      const [row] = await sql`select count(*)::int as refunds,
        (select count(*)::int from public.reward_events where purchases_id = ${purchaseId} and amount < 0) as reversals
        from public.refunds where purchases_id = ${purchaseId}`;
      assert.deepEqual({ ...row }, { refunds: 1, reversals: 1 });
    });
  } finally {
    await env.close();
  }
});
