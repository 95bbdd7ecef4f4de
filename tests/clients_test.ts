// The client examples (examples/client.py, examples/client.mjs) run as real processes against the
// real handler served on 127.0.0.1, behind a front that fails the way networks do: a 503 with
// Retry-After, then an answer lost after the purchase was committed. Each client must end with
// exactly one purchase, the replayed answer, and the right output; a 4xx is final.
import assert from "node:assert/strict";
import { join } from "node:path";
import { act, testEnv, world } from "./helpers.ts";
import { freePort } from "../dev/cluster.ts";
import { ROOT } from "../dev/doc_examples.ts";

const PATH = "/functions/v1/openapi-operations";

/** What the front does to the next request: answer 503, lose the answer after the handler ran, or pass it. */
type Failure = "503" | "lose-answer" | "pass";

function serveWithFailures(handler: (req: Request) => Promise<Response>, plan: Failure[]) {
  const seen: { idempotencyKey: string | null; failure: Failure }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: freePort(), onListen: () => {} }, async (req) => {
    const failure = plan.shift() ?? "pass";
    seen.push({ idempotencyKey: req.headers.get("idempotency-key"), failure });
    if (failure === "503") {
      await req.body?.cancel();
      return Response.json({ error: "Service unavailable", code: "service_unavailable", request_id: "x" }, {
        status: 503,
        headers: { "Retry-After": "1" },
      });
    }
    const res = await handler(req);
    if (failure === "pass") return res;
    // Committed, but the connection breaks in the middle of the answer: fewer bytes than announced.
    await res.body?.cancel();
    const part = new TextEncoder().encode('{"purchase":');
    return new Response(new ReadableStream({ start: (c) => (c.enqueue(part), c.close()) }), {
      status: 200,
      headers: { "Content-Type": "application/json", "Content-Length": "100" },
    });
  });
  return { url: `http://127.0.0.1:${server.addr.port}${PATH}`, seen, close: () => server.shutdown() };
}

async function run(command: string[], env: Record<string, string>) {
  const out = await new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: ROOT,
    env,
    stdin: "null",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const CLIENTS = [
  { name: "examples/client.py", command: ["python3", join(ROOT, "examples/client.py")] },
  { name: "examples/client.mjs", command: ["node", join(ROOT, "examples/client.mjs")] },
];

for (const client of CLIENTS) {
  Deno.test(`${client.name} records one purchase through a 503 and a lost answer, and stops at a 4xx`, async () => {
    const env = testEnv();
    const w = await world(env.sql);
    const front = serveWithFailures((req) => env.handler(req), ["503", "lose-answer"]);
    try {
      const vars = { API: front.url, RECEIVING_KEY: w.receiving.key, LEAD_ID: w.leadId };
      const order = `${crypto.randomUUID()}`;
      const first = await run([...client.command, order, "249.99"], vars);
      assert.equal(first.code, 0, first.stderr);
      const lines = first.stdout.trim().split("\n");
      assert.equal(lines.length, 4, first.stdout);
      assert.equal(lines[0], "attempt 1: HTTP 503 Service unavailable, retrying in 1 s");
      assert.match(lines[1], /^attempt 2: no answer \(\w+\), retrying in 1 s$/);
      assert.equal(lines[2], "attempt 3: HTTP 200 (replayed)");
      const [purchase] = await env.sql`select id, purchase_amount::text as amount, description
        from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(
        lines[3],
        `purchase ${purchase.id}: 249.99 (Order ${order}); rewards: none`,
      );
      assert.deepEqual(front.seen.map((s) => [s.idempotencyKey, s.failure]), [
        [`purchase-${order}`, "503"],
        [`purchase-${order}`, "lose-answer"],
        [`purchase-${order}`, "pass"],
      ]);

      // Running it again for the same order writes nothing and answers the same purchase.
      const again = await run([...client.command, order, "249.99"], vars);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(again.stdout.trim().split("\n"), ["attempt 1: HTTP 200 (replayed)", lines[3]]);
      const [count] = await env.sql`select count(*)::int as n from public.purchases where leads_id = ${w.leadId}`;
      assert.equal(count.n, 1);

      // The rewards as the API answers them, digits kept (Python) or as the runtime prints numbers (Node).
      await env.sql`insert into public.reward_triggers (channels_id, name, trigger, reward_type, amount)
        values (${w.channelId}, 'Ten percent', 'purchase', 'percentage', 10)`;
      const rewarded = await run([...client.command, `${order}-2`, "99.95"], vars);
      assert.equal(rewarded.code, 0, rewarded.stderr);
      const amount = client.name.endsWith(".py") ? "10.00" : "10";
      assert.match(rewarded.stdout, new RegExp(`rewards: percentage ${amount} USD pending\\n$`));

      // A 4xx is final: one attempt, the API's error on stderr, exit 1.
      const other = await world(env.sql);
      const refused = await run([...client.command, `${order}-3`, "10"], { ...vars, LEAD_ID: other.leadId });
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, "");
      assert.match(
        refused.stderr,
        /^error: HTTP 403 lead_not_accessible: Lead not accessible \(request_id [0-9a-f-]{36}\)\n$/,
      );
      const listed = await act(env, w.receiving.key, "get_purchases", { lead_id: w.leadId });
      assert.equal((listed.body.purchases as unknown[]).length, 2);
    } finally {
      await front.close();
      await env.close();
    }
  });
}
