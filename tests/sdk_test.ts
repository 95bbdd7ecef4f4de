// The generated client (docs/guide.md, "Generated clients"; API.md §8): @hey-api/openapi-ts
// generates a TypeScript client from the document the function serves, examples/sdk_example.ts
// type-checks against it and runs as a real process against the real handler served on
// 127.0.0.1, and a wrong field for an action, or a code an action does not have, fails to compile.
import assert from "node:assert/strict";
import { join } from "node:path";
import { testEnv, world } from "./helpers.ts";
import { freePort } from "../dev/cluster.ts";
import { ROOT } from "../dev/doc_examples.ts";
import { generateClient } from "../dev/sdk.ts";

async function deno(args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, env: { ...env, NO_COLOR: "1" }, stdin: "null" })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("a client generated from the served document runs examples/sdk_example.ts; wrong fields do not compile", async (t) => {
  const env = testEnv();
  const server = Deno.serve({ hostname: "127.0.0.1", port: freePort(), onListen: () => {} }, (req) => env.handler(req));
  const base = `http://127.0.0.1:${server.addr.port}/functions/v1`;
  const dir = await Deno.makeTempDir({ prefix: "sdk-test-" });
  try {
    await t.step("@hey-api/openapi-ts generates one method per action from …/openapi.json", async () => {
      const res = await fetch(`${base}/openapi-operations/openapi.json`);
      assert.equal(res.status, 200);
      await generateClient(await res.json(), join(dir, "sdk"));
      const sdk = await Deno.readTextFile(join(dir, "sdk", "sdk.gen.ts"));
      assert.match(
        sdk,
        /export const createPurchase = <ThrowOnError extends boolean = false>\(options: Options<CreatePurchaseData, ThrowOnError>\): RequestResult<CreatePurchaseResponses, CreatePurchaseErrors, ThrowOnError>/,
      );
      assert.match(sdk, /url: '\/openapi-operations\/create_purchase'/);
      assert.match(sdk, /export const getLeadByLegacyId = /);
      await Deno.copyFile(join(ROOT, "examples", "sdk_example.ts"), join(dir, "sdk_example.ts"));
    });

    await t.step("examples/sdk_example.ts type-checks against it", async () => {
      const checked = await deno(["check", "--no-config", "--no-lock", "sdk_example.ts"], dir);
      assert.equal(checked.code, 0, checked.stderr);
    });

    await t.step("and runs: a purchase, its pages, a partial refund, a typed 403", async () => {
      const w = await world(env.sql);
      const other = await world(env.sql);
      const vars = { API: base, API_KEY: w.receiving.key, LEAD_ID: w.leadId, OTHER_LEAD_ID: other.leadId };
      const args = ["run", "--no-config", "--no-lock", "--allow-env", "--allow-net=127.0.0.1", "sdk_example.ts"];
      for (const order of ["A-1", "A-2", "A-3"]) {
        const run = await deno([...args, order], dir, vars);
        assert.equal(run.code, 0, run.stderr);
        const [purchase] = await env.sql`select id from public.purchases
          where leads_id = ${w.leadId} and description = ${`Order ${order}`}`;
        const [refund] = await env.sql`select id, amount::text from public.refunds where purchases_id = ${purchase.id}`;
        const n = Number(order.slice(2));
        assert.equal(
          run.stdout,
          `purchase ${purchase.id}: 12500.5 (Order ${order})\n` +
            `${n} purchases in ${Math.ceil(n / 2)} pages\n` +
            `refund ${refund.id}: 500.25\n` +
            "other lead: lead_not_accessible: Lead not accessible\n",
        );
        assert.equal(refund.amount, "500.25");
      }
      // Run again for an order already recorded: the Idempotency-Keys replay, nothing is written twice.
      const again = await deno([...args, "A-1"], dir, vars);
      assert.equal(again.code, 0, again.stderr);
      const [rows] = await env.sql`select
        (select count(*)::int from public.purchases where leads_id = ${w.leadId}) as purchases,
        (select count(*)::int from public.refunds r join public.purchases p on p.id = r.purchases_id
          where p.leads_id = ${w.leadId}) as refunds,
        (select count(*)::int from public.purchases where leads_id = ${other.leadId}) as other`;
      assert.deepEqual({ ...rows }, { purchases: 3, refunds: 3, other: 0 });
    });

    await t.step("a wrong field for an action, or a code it does not have, fails to type-check", async () => {
      await Deno.writeTextFile(
        join(dir, "negative.ts"),
        `import { createPurchase, refundPurchase } from "./sdk/index.ts";
const lead_id = "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b";
await createPurchase({ body: { lead_id, purchase_amout: "12500.50" } });
await refundPurchase({ body: { purchase_id: lead_id, lead_id } });
const refused = await createPurchase({ body: { lead_id } });
if (refused.error?.code === "lead_not_acessible") console.log("never");
`,
      );
      const checked = await deno(["check", "--no-config", "--no-lock", "negative.ts"], dir);
      assert.notEqual(checked.code, 0);
      const errors = [...checked.stderr.matchAll(/^(TS\d+) \[ERROR\]: (.*)$/gm)].map(([, code, message]) =>
        `${code} ${message}`
      );
      assert.equal(errors.length, 3, checked.stderr);
      assert.equal(
        errors[0],
        "TS2561 Object literal may only specify known properties, but 'purchase_amout' does not exist in type " +
          "'CreatePurchaseRequest'. Did you mean to write 'purchase_amount'?",
      );
      assert.equal(
        errors[1],
        "TS2353 Object literal may only specify known properties, and 'lead_id' does not exist in type " +
          "'RefundPurchaseRequest'.",
      );
      // The union of create_purchase's codes, which TypeScript shortens.
      assert.match(
        errors[2],
        /^TS2367 This comparison appears to be unintentional because the types '"action_mismatch" \| .* \| undefined' and '"lead_not_acessible"' have no overlap\.$/,
      );
    });
  } finally {
    await server.shutdown();
    await env.close();
    await Deno.remove(dir, { recursive: true });
  }
});
