import assert from "node:assert/strict";
import { call, errorBody, FUNCTION_URL, statusAndBody, testEnv, world, writtenFor } from "./helpers.ts";
import { MAX_BODY_BYTES } from "../supabase/functions/_shared/handler.ts";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers":
    "authorization, x-client-info, apikey, content-type, x-api-key, idempotency-key, x-request-id",
  "access-control-allow-methods": "POST, OPTIONS",
};

function corsOf(headers: Headers) {
  return Object.fromEntries(Object.keys(CORS).map((name) => [name, headers.get(name)]));
}

Deno.test("request handling (docs/errors.md, the order of the checks)", async (t) => {
  const env = await testEnv();
  const { sql, handler } = env;
  try {
    const w = await world(sql);

    await t.step("OPTIONS answers 204 with the CORS headers and a request id", async () => {
      const reply = await call(handler, null, { method: "OPTIONS" });
      assert.equal(reply.status, 204);
      assert.equal(reply.text, "");
      assert.equal(reply.headers.get("content-type"), null);
      assert.deepEqual(corsOf(reply.headers), CORS);
      assert.match(reply.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    });

    await t.step("every other method but POST answers 405", async () => {
      for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
        const reply = await call(handler, { action: "create_purchase" }, { method });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 405, "Method not allowed", "method_not_allowed"));
        assert.equal(reply.headers.get("allow"), "POST, OPTIONS");
        assert.deepEqual(corsOf(reply.headers), CORS);
      }
    });

    await t.step("a body over 1 MiB answers 413, by Content-Length or by what arrives", async () => {
      const big = JSON.stringify({ action: "create_purchase", pad: "x".repeat(MAX_BODY_BYTES) });
      const declared = await call(handler, null, { raw: big, key: w.receiving.key });
      assert.deepEqual(
        statusAndBody(declared),
        errorBody(declared, 413, "Request body too large", "payload_too_large"),
      );
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big));
          controller.close();
        },
      });
      const res = await handler(
        new Request(FUNCTION_URL, { method: "POST", body: stream, headers: { "X-Api-Key": w.receiving.key } }),
      );
      assert.equal(res.status, 413);
      assert.equal((await res.json()).error, "Request body too large");
    });

    await t.step("a body that is not a JSON object answers 400 Invalid JSON body", async () => {
      for (const raw of ["", "{", "[]", "null", "42", '"create_purchase"', new Uint8Array([0x7b, 0xff, 0x7d])]) {
        const reply = await call(handler, null, { raw, key: w.receiving.key });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Invalid JSON body", "invalid_json"));
      }
    });

    await t.step(
      "any JSON value but an object answers 400 Invalid JSON body, a number out of float range too",
      async () => {
        for (const raw of ["1e400", "-1e400", "2852199.999999999999", "true", " [1e400] "]) {
          const reply = await call(handler, null, { raw, key: w.receiving.key });
          assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Invalid JSON body", "invalid_json"), raw);
        }
      },
    );

    await t.step("a duplicated member name at any depth answers 400 Invalid JSON body and writes nothing", async () => {
      const [{ count: payoutsBefore }] = await sql`select count(*)::int from public.payouts`;
      const writtenBefore = await writtenFor(sql, w.leadId);
      const purchase = `"action":"create_purchase","lead_id":"${w.leadId}"`;
      for (
        const raw of [
          `{"action":"get_channels","action":"create_payout","channel_id":"${w.channelId}"}`,
          `{${purchase},"purchase_amount":1,"purchase_amount":1}`,
          `{${purchase},"x":[{"a":1,"b":{"c":[],"c":{}}}]}`,
          String.raw`{${purchase},"\u0061":1,"a":2}`,
          String.raw`{${purchase},"a\"b":1,"a\u0022b":2}`,
        ]
      ) {
        const reply = await call(handler, null, { raw, key: w.receiving.key });
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, "Invalid JSON body", "invalid_json"), raw);
      }
      assert.deepEqual([...await sql`select count(*)::int from public.payouts`], [{ count: payoutsBefore }]);
      assert.deepEqual(await writtenFor(sql, w.leadId), writtenBefore);
    });

    await t.step("the same name in different objects, or as a value, is no duplicate", async () => {
      const raw = String.raw`{"action":"create_purchase","lead_id":"${w.leadId}","n":{"lead_id":"lead_id",` +
        String.raw`"a":[{"a":1},{"a":2}]},"s":"\\","a\\":1,"a\\\\":2,"a\"":3,"t":"{\"n\":1,\"n\":2}"}`;
      const reply = await call(handler, null, { raw, key: w.receiving.key });
      assert.equal(reply.status, 200, reply.text);
    });

    await t.step("a missing or unknown action answers 400, before the key is looked at", async () => {
      const cases: [unknown, string, string][] = [
        [{}, "action required", "action_required"],
        [{ action: "" }, "action required", "action_required"],
        [{ action: null }, "action required", "action_required"],
        [{ action: "drop_tables" }, "Unknown action: drop_tables", "unknown_action"],
        [{ action: "toString" }, "Unknown action: toString", "unknown_action"],
        [{ action: 7 }, "Unknown action: 7", "unknown_action"],
      ];
      for (const [body, message, code] of cases) {
        const reply = await call(handler, body);
        assert.deepEqual(statusAndBody(reply), errorBody(reply, 400, message, code));
      }
    });

    await t.step("X-Request-Id echoes a valid caller id and is fresh otherwise, on success and error", async () => {
      const given = await call(handler, { action: "create_purchase", lead_id: w.leadId }, {
        key: w.receiving.key,
        headers: { "X-Request-Id": "trace-123 abc" },
      });
      assert.equal(given.status, 200);
      assert.equal(given.headers.get("x-request-id"), "trace-123 abc");
      const error = await call(handler, {}, { headers: { "X-Request-Id": "trace-456" } });
      assert.equal(error.headers.get("x-request-id"), "trace-456");
      assert.equal(error.body.request_id, "trace-456");
      const tooLong = await call(handler, {}, { headers: { "X-Request-Id": "x".repeat(129) } });
      assert.match(tooLong.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
      assert.equal(tooLong.body.request_id, tooLong.headers.get("x-request-id"));
    });

    await t.step("success and errors carry JSON content type and CORS headers", async () => {
      const ok = await call(handler, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      const bad = await call(handler, { action: "create_purchase" }, { key: w.receiving.key });
      for (const reply of [ok, bad]) {
        assert.equal(reply.headers.get("content-type"), "application/json");
        assert.deepEqual(corsOf(reply.headers), CORS);
      }
    });

    await t.step("the header name is case-insensitive and Content-Type is not required", async () => {
      const res = await handler(
        new Request(FUNCTION_URL, {
          method: "POST",
          headers: { "x-api-key": w.receiving.key },
          body: new TextEncoder().encode(JSON.stringify({ action: "create_purchase", lead_id: w.leadId })),
        }),
      );
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });
  } finally {
    await env.close();
  }
});
