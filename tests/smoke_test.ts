// `deno task smoke`: its checks against the real handler served on 127.0.0.1 (over a real
// database), once as the command itself, and against servers that break each documented rule.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { EXPECTED_CORS, formatResult, smoke } from "../dev/smoke.ts";
import { ops, serveHandler as serve, testEnv, world } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Runs `deno task smoke <url> <key>` as a process. */
async function smokeCommand(url: string, key: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "smoke", url, key],
    cwd: ROOT,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  return { code: out.code, lines: stdout.trimEnd().split("\n"), stderr: new TextDecoder().decode(out.stderr) };
}

/** A handler that passes every request to `inner` and lets `change` rewrite the response. */
function altered(
  inner: (req: Request) => Promise<Response>,
  change: (req: Request, res: Response, headers: Headers) => Promise<Response | null> | Response | null,
) {
  return async (req: Request) => {
    const res = await inner(req);
    return await change(req, res, new Headers(res.headers)) ?? res;
  };
}

const ALL_PASS = [
  { name: "OPTIONS preflight", ok: true, detail: "204 with the documented CORS headers" },
  { name: "bad API key", ok: true, detail: "401 invalid_api_key, request_id matches X-Request-Id" },
  { name: "get_channels", ok: true, detail: "200 with 1 channel" },
];

Deno.test("deno task smoke", async (t) => {
  const env = testEnv();
  const { sql } = env;
  const server = serve(env.handler);
  try {
    const w = await world(sql);

    await t.step("every check passes against the real handler", async () => {
      assert.deepEqual(await smoke(server.url, w.receiving.key), ALL_PASS);
      // An outsider's key is valid too: no channels is still a channels array.
      const outsider = await smoke(server.url, w.outsider.key);
      assert.deepEqual(outsider[2], { name: "get_channels", ok: true, detail: "200 with 0 channels" });
    });

    await t.step("the command prints one PASS line per check and exits 0", async () => {
      const run = await smokeCommand(server.url, w.receiving.key);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.lines, [...ALL_PASS.map(formatResult), "3 passed, 0 failed"]);
    });

    await t.step("a key that is not valid as the good key: a FAIL line and exit 1", async () => {
      const key = await ops.createKey(sql, { company: w.partner.id });
      await ops.revokeKey(sql, { id: key.id as string });
      const run = await smokeCommand(server.url, key.api_key as string);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.lines.length, 4, run.lines.join("\n"));
      assert.deepEqual(run.lines.slice(0, 2), ALL_PASS.slice(0, 2).map(formatResult));
      assert.match(
        run.lines[2],
        /^FAIL get_channels: status 401, expected 200: \{"error":"Invalid API key","code":"invalid_api_key","request_id":"[0-9a-f-]{36}"\}$/,
      );
      assert.equal(run.lines[3], "2 passed, 1 failed");
    });

    await t.step("usage errors exit 2 without a request", async () => {
      const run = await smokeCommand("not-a-url", "sk_x");
      assert.equal(run.code, 2);
      assert.match(run.stderr, /usage: deno task smoke <function-url> <api-key>/);
    });

    await t.step("a preflight without 204 or a CORS header fails", async () => {
      const broken = serve(altered(env.handler, (req, _res, headers) => {
        if (req.method !== "OPTIONS") return null;
        headers.delete("access-control-allow-headers");
        headers.set("access-control-allow-methods", "GET, POST");
        return new Response(null, { status: 200, headers });
      }));
      try {
        const [preflight, ...rest] = await smoke(broken.url, w.receiving.key);
        assert.deepEqual(preflight, {
          name: "OPTIONS preflight",
          ok: false,
          detail: `status 200, expected 204; access-control-allow-headers: missing, expected ${
            JSON.stringify(EXPECTED_CORS["access-control-allow-headers"])
          }; access-control-allow-methods: "GET, POST", expected "POST, OPTIONS"`,
        });
        assert.deepEqual(rest, ALL_PASS.slice(1));
      } finally {
        await broken.stop();
      }
    });

    await t.step("a 401 whose request_id differs from X-Request-Id fails", async () => {
      let body = "";
      const broken = serve(altered(env.handler, async (req, res, headers) => {
        if (req.headers.get("x-api-key") === w.receiving.key || req.method !== "POST") return null;
        headers.set("X-Request-Id", "not-the-body-id");
        body = await res.text();
        return new Response(body, { status: res.status, headers });
      }));
      try {
        const [, bad] = await smoke(broken.url, w.receiving.key);
        assert.equal(bad.ok, false);
        assert.equal(
          bad.detail,
          `body ${body}, expected {"error":"Invalid API key","code":"invalid_api_key","request_id":"not-the-body-id"}`,
        );
      } finally {
        await broken.stop();
      }
    });

    await t.step("a 200 without a channels array fails", async () => {
      const broken = serve(altered(env.handler, (req, _res, headers) => {
        if (req.headers.get("x-api-key") !== w.receiving.key) return null;
        return new Response(JSON.stringify({ channel: [] }), { status: 200, headers });
      }));
      try {
        const results = await smoke(broken.url, w.receiving.key);
        assert.deepEqual(results, [
          ...ALL_PASS.slice(0, 2),
          { name: "get_channels", ok: false, detail: '200 but no channels array: {"channel":[]}' },
        ]);
      } finally {
        await broken.stop();
      }
    });

    await t.step("nothing listening: every check fails with the network error", async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      listener.close();
      const results = await smoke(`http://127.0.0.1:${port}/functions/v1/openapi-operations`, w.receiving.key);
      assert.deepEqual(results.map((r) => [r.name, r.ok]), [
        ["OPTIONS preflight", false],
        ["bad API key", false],
        ["get_channels", false],
      ]);
      for (const r of results) assert.match(r.detail, /^request failed: fetch failed: .*Connection refused/);
    });

    await t.step("the checks write nothing", async () => {
      const counts = async () => {
        const [row] = await sql`
          select
            (select count(*)::int from public.leads) as leads,
            (select count(*)::int from public.purchases) as purchases,
            (select count(*)::int from public.events) as events,
            (select count(*)::int from public.idempotency_keys) as idempotency_keys`;
        return { ...row };
      };
      const before = await counts();
      await smoke(server.url, w.receiving.key);
      assert.deepEqual(await counts(), before);
    });
  } finally {
    await server.stop();
    await env.close();
  }
});
