// Contract test of the supabase-js adapter. No PostgREST can run here, so a stub fetch
// stands in for it: it checks the exact HTTP request PostgREST would receive (path, auth
// headers, a JSON body whose keys are the SQL function's parameter names read from pg_proc)
// and answers the way PostgREST does, by running the call on the real database and turning
// a PTxxx SQLSTATE into that HTTP status with {code, message, details, hint}.
import assert from "node:assert/strict";
import { call, DATABASE_URL, errorBody, postgrestStub, type Seen, statusAndBody, testEnv, world } from "./helpers.ts";
import { createSupabaseDb } from "../supabase/functions/_shared/db_supabase.ts";
import { dbFromEnv, serviceKey } from "../supabase/functions/_shared/db_from_env.ts";
import { hashApiKey } from "../supabase/functions/_shared/api_key.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

const SUPABASE_URL = "https://project-ref.supabase.co";
const SERVICE_KEY = "service-role-key-for-tests";

Deno.test("supabase-js adapter contract", async (t) => {
  const env = await testEnv();
  const { sql } = env;
  const seen: Seen[] = [];
  const supabase = createHandler({
    db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, { fetch: postgrestStub(sql, seen) }),
  });
  try {
    const w = await world(sql);

    await t.step(
      "create_purchase is one POST to /rest/v1/rpc/create_purchase with the function's parameter names",
      async () => {
        seen.length = 0;
        const reply = await call(supabase, {
          action: "create_purchase",
          lead_id: w.leadId,
          purchase_amount: 10,
          date: "2025-04-01",
        }, { key: w.receiving.key });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(Object.keys(reply.body), ["purchase", "reward_events"]);
        assert.equal((reply.body.purchase as Record<string, unknown>).date, "2025-04-01T00:00:00.000Z");
        assert.deepEqual(seen, [{
          method: "POST",
          path: "/rest/v1/rpc/create_purchase",
          apikey: SERVICE_KEY,
          authorization: `Bearer ${SERVICE_KEY}`,
          contentType: "application/json",
          keys: ["args", "key_hash"],
          parameters: ["args", "key_hash"],
        }]);
      },
    );

    await t.step("PTxxx errors map to the same responses as the direct adapter", async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ action: "create_purchase", lead_id: crypto.randomUUID() }, w.receiving.key],
        [{ action: "create_purchase", lead_id: w.leadId }, w.outsider.key],
        [{ action: "create_purchase", lead_id: w.leadId, product_id: crypto.randomUUID() }, w.receiving.key],
        [{ action: "create_purchase", lead_id: w.leadId, trigger_ids: [crypto.randomUUID()] }, w.receiving.key],
        [{ action: "create_purchase", lead_id: w.leadId }, "sk_unknown"],
        [{ action: "create_purchase", lead_id: "bad" }, "sk_unknown"],
        [{ action: "create_purchase", lead_id: "bad" }, w.receiving.key],
      ];
      for (const [body, key] of cases) {
        const viaSupabase = await call(supabase, body, { key, headers: { "X-Request-Id": "same" } });
        const direct = await call(env.handler, body, { key, headers: { "X-Request-Id": "same" } });
        assert.ok(viaSupabase.status >= 400, viaSupabase.text);
        assert.deepEqual(statusAndBody(viaSupabase), statusAndBody(direct));
      }
    });

    await t.step("the intake limit's 429 keeps its Retry-After through PostgREST's error details", async () => {
      const open = await world(sql);
      await sql`update public.channels set no_auth_api = true, intake_per_minute = 1 where id = ${open.channelId}`;
      const body = { action: "lead_external", channel_id: open.channelId };
      const headers = { "X-Forwarded-For": "192.0.2.44" };
      assert.equal((await call(supabase, body, { headers })).status, 200);
      const limited = await call(supabase, body, { headers });
      assert.deepEqual(statusAndBody(limited), errorBody(limited, 429, "Too many requests", "rate_limited"));
      const retryAfter = Number(limited.headers.get("retry-after"));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    });

    await t.step("an Idempotency-Key call goes to /rest/v1/rpc/idempotent with its parameter names", async () => {
      seen.length = 0;
      const body = { action: "create_purchase", lead_id: w.leadId, purchase_amount: 1 };
      const headers = { "Idempotency-Key": crypto.randomUUID() };
      const first = await call(supabase, body, { key: w.receiving.key, headers });
      const again = await call(supabase, body, { key: w.receiving.key, headers });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual([again.headers.get("idempotent-replayed"), again.text], ["true", first.text]);
      const expected = ["action", "args", "fingerprint", "idempotency_key", "key_hash"];
      assert.deepEqual(seen.map((s) => [s.path, s.keys, s.parameters]), [
        ["/rest/v1/rpc/idempotent", expected, expected],
        ["/rest/v1/rpc/idempotent", expected, expected],
      ]);
    });

    await t.step("the 401-before-400 check calls authenticate with its parameter names", async () => {
      seen.length = 0;
      await call(supabase, { action: "create_purchase" }, { key: "sk_unknown" });
      assert.deepEqual(seen.map((s) => [s.path, s.keys, s.parameters]), [
        ["/rest/v1/rpc/authenticate", ["key_hash"], ["key_hash"]],
      ]);
    });

    await t.step("an unreachable PostgREST answers 503 and an unknown error 500", async () => {
      const unreachable = createHandler({
        db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, { fetch: () => Promise.reject(new TypeError("fetch failed")) }),
      });
      const down = await call(unreachable, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.deepEqual(statusAndBody(down), errorBody(down, 503, "Service unavailable", "service_unavailable"));
      assert.equal(down.headers.get("retry-after"), "1");

      const lostDb = createHandler({
        db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, {
          fetch: () =>
            Promise.resolve(
              Response.json({ code: "PGRST001", message: "Database client error", details: null, hint: null }, {
                status: 503,
              }),
            ),
        }),
      });
      const lost = await call(lostDb, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.deepEqual(statusAndBody(lost), errorBody(lost, 503, "Service unavailable", "service_unavailable"));

      const timedOut = createHandler({
        db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, {
          fetch: () =>
            Promise.resolve(Response.json({
              code: "57014",
              message: "canceling statement due to statement timeout",
              details: null,
              hint: null,
            }, { status: 500 })),
        }),
      });
      const slow = await call(timedOut, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.deepEqual(statusAndBody(slow), errorBody(slow, 503, "Service unavailable", "service_unavailable"));

      const logged: unknown[] = [];
      const broken = createHandler({
        db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, {
          fetch: () =>
            Promise.resolve(Response.json({ code: "XX000", message: "secret internals", details: null, hint: null }, {
              status: 500,
            })),
        }),
        logError: (_id, error) => logged.push(error),
      });
      const failed = await call(broken, { action: "create_purchase", lead_id: w.leadId }, { key: w.receiving.key });
      assert.deepEqual(statusAndBody(failed), errorBody(failed, 500, "Internal server error", "internal_error"));
      assert.match(String(logged[0]), /XX000 secret internals/);
    });

    await t.step(
      "the Data API off, public not exposed or the function unknown: 503, the setting in the log",
      async () => {
        // PostgREST's own bodies: 406 PGRST106 when the schema is not exposed (or the Data API is
        // off), 404 PGRST202 when its schema cache has no such function.
        const replies: [number, Record<string, unknown>, RegExp][] = [
          [406, {
            code: "PGRST106",
            details: null,
            hint: "Only the following schemas are exposed: graphql_public",
            message: "Invalid schema: public",
          }, /Exposed schemas \(Dashboard: Project Settings → Data API\)/],
          [404, {
            code: "PGRST202",
            details:
              "Searched for the function public.create_purchase with parameters args, key_hash or with a single " +
              "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
            hint: null,
            message: "Could not find the function public.create_purchase(args, key_hash) in the schema cache",
          }, /schema cache has no function public\.create_purchase: apply the migrations .*reload schema/],
        ];
        for (const [status, body, setting] of replies) {
          const logged: string[] = [];
          const errors: unknown[] = [];
          const misconfigured = createHandler({
            db: createSupabaseDb(SUPABASE_URL, SERVICE_KEY, {
              fetch: () => Promise.resolve(Response.json(body, { status })),
              log: (line) => logged.push(line),
            }),
            logError: (_id, error) => errors.push(error),
          });
          const reply = await call(
            misconfigured,
            { action: "create_purchase", lead_id: w.leadId, purchase_amount: 1 },
            {
              key: w.receiving.key,
            },
          );
          assert.deepEqual(statusAndBody(reply), errorBody(reply, 503, "Service unavailable", "service_unavailable"));
          assert.equal(reply.headers.get("retry-after"), "1");
          assert.deepEqual(errors, []);
          assert.equal(logged.length, 1);
          const line = JSON.parse(logged[0]);
          assert.equal(line.error, `PostgREST ${body.code} ${body.message}`);
          assert.match(line.setting, setting);
        }
      },
    );

    await t.step("the adapter is chosen from the environment, and neither option fails fast naming both", async () => {
      const env = (vars: Record<string, string>) => (name: string) => vars[name];
      assert.throws(
        () => dbFromEnv(env({})),
        /DATABASE_URL.*SUPABASE_URL.*SUPABASE_SECRET_KEYS.*SUPABASE_SERVICE_ROLE_KEY/,
      );
      assert.throws(() => dbFromEnv(env({ SUPABASE_URL })), /No database configured/);
      // The new secret key wins: a project with legacy keys disabled still injects the old JWT.
      assert.equal(
        serviceKey(env({ SUPABASE_SERVICE_ROLE_KEY: "legacy", SUPABASE_SECRET_KEYS: '{"default":"sb_secret_new"}' })),
        "sb_secret_new",
      );
      assert.equal(serviceKey(env({ SUPABASE_SECRET_KEYS: '{"default":"sb_secret_x","other":"y"}' })), "sb_secret_x");
      assert.equal(
        serviceKey(env({ SUPABASE_SECRET_KEYS: '{"ci":"sb_secret_ci"}', SUPABASE_SERVICE_ROLE_KEY: "legacy" })),
        "legacy",
      );
      assert.equal(serviceKey(env({ SUPABASE_SERVICE_ROLE_KEY: "legacy" })), "legacy");
      assert.equal(serviceKey(env({})), undefined);
      for (const malformed of ["{default:sb_secret_x}", '"sb_secret_x"', "[]", "null"]) {
        assert.throws(
          () => dbFromEnv(env({ SUPABASE_URL, SUPABASE_SECRET_KEYS: malformed, SUPABASE_SERVICE_ROLE_KEY: "legacy" })),
          { message: 'SUPABASE_SECRET_KEYS is not a JSON object of keys (expected {"default": "sb_secret_…"})' },
          malformed,
        );
      }
      // Built from a hosted environment with both keys, every PostgREST call carries the new key.
      seen.length = 0;
      const hosted = createHandler({
        db: dbFromEnv(
          env({
            SUPABASE_URL,
            SUPABASE_SECRET_KEYS: '{"default":"sb_secret_new"}',
            SUPABASE_SERVICE_ROLE_KEY: "legacy",
          }),
          { fetch: postgrestStub(sql, seen) },
        ),
      });
      const reply = await call(hosted, { action: "get_channels" }, { key: w.receiving.key });
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(seen.map((s) => [s.path, s.apikey, s.authorization]), [
        ["/rest/v1/rpc/get_channels", "sb_secret_new", "Bearer sb_secret_new"],
      ]);
      // DATABASE_URL wins over a hosted configuration: this adapter answers from the test database.
      const direct = dbFromEnv(env({ DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY: "legacy" }));
      try {
        assert.equal(await direct.rpc("authenticate", { key_hash: hashApiKey(w.receiving.key) }), "true");
      } finally {
        await direct.close();
      }
    });
  } finally {
    await env.close();
  }
});
