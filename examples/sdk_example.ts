// A partner's program on a generated client (docs/guide.md, "Generated clients"): one typed
// method per action, no casts. It records a purchase, pages through the lead's purchases,
// refunds part of the purchase and handles the typed 403 of a lead it cannot access.
//
//   deno task sdk     # generates the client into examples/sdk/ (not committed)
//   API=http://127.0.0.1:8000/functions/v1 API_KEY=sk_... LEAD_ID=<uuid> OTHER_LEAD_ID=<uuid> \
//     deno run --allow-env --allow-net examples/sdk_example.ts <order number>
import { client } from "./sdk/client.gen.ts";
import { createPurchase, getPurchases, refundPurchase } from "./sdk/index.ts";

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// An answer that is not a 200: its status and the API's error body.
function fail(response: Response | undefined, error: { code: string; request_id: string } | undefined): never {
  console.error(`error: HTTP ${response?.status ?? "(no answer)"} ${error?.code} (request_id ${error?.request_id})`);
  Deno.exit(1);
}

client.setConfig({ baseUrl: env("API"), auth: () => env("API_KEY") });
const leadId = env("LEAD_ID");
const order = Deno.args[0] ?? crypto.randomUUID();

// Amounts go out as decimal strings: exact whatever their digits. The Idempotency-Key makes a retry safe.
const created = await createPurchase({
  body: { lead_id: leadId, purchase_amount: "12500.50", date: "2025-04-01T00:00:00Z", description: `Order ${order}` },
  headers: { "Idempotency-Key": `purchase-${order}` },
});
if (!created.data) fail(created.response, created.error);
const purchase = created.data.purchase;
console.log(`purchase ${purchase.id}: ${purchase.purchase_amount} (${purchase.description})`);

// Every purchase of the lead, two a page, following next_cursor to the end.
type Page = Awaited<ReturnType<typeof getPurchases>>;
let cursor: string | null = null;
let pages = 0;
let total = 0;
do {
  const page: Page = await getPurchases({ body: { lead_id: leadId, limit: 2, cursor } });
  if (!page.data) fail(page.response, page.error);
  pages += 1;
  total += page.data.purchases.length;
  cursor = page.data.next_cursor;
} while (cursor !== null);
console.log(`${total} purchases in ${pages} pages`);

const refunded = await refundPurchase({
  body: { purchase_id: purchase.id, amount: "500.25", reason: "Partial refund" },
  headers: { "Idempotency-Key": `refund-${order}` },
});
if (!refunded.data) fail(refunded.response, refunded.error);
console.log(`refund ${refunded.data.refund.id}: ${refunded.data.refund.amount}`);

// A 403 is typed: `code` is one of create_purchase's codes, so a misspelt code does not compile.
const refused = await createPurchase({ body: { lead_id: env("OTHER_LEAD_ID"), purchase_amount: "1" } });
if (refused.response?.status === 403 && refused.error?.code === "lead_not_accessible") {
  console.log(`other lead: ${refused.error.code}: ${refused.error.error}`);
} else {
  fail(refused.response, refused.error);
}
