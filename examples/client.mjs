// Records a purchase with openapi-operations from Node 18 or later, with nothing but fetch, and
// retries it safely.
//
//   export API=... RECEIVING_KEY=... LEAD_ID=...   # what `deno task start` prints
//   node examples/client.mjs ORDER_ID AMOUNT       # e.g. node examples/client.mjs 7731 249.99
//
// The Idempotency-Key is derived from your own order id, so the same order is recorded once however
// often this runs or retries: a retry after a timeout, a dropped connection, a 5xx or a 503 sends the
// same key and gets the stored answer back (Idempotent-Replayed: true) instead of a second purchase.
// A 503 says when to come back in Retry-After. Any other 4xx is final: retrying cannot fix it.
// The amount is sent as a decimal string. JSON.parse reads answers into floats: fine for printing
// 249.99, not for adding amounts up (use a decimal library, or JSON.parse's source text where the
// runtime has it, for that).

const MAX_ATTEMPTS = 5;
const TIMEOUT_MS = 10_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One POST; resolves to {status, headers, body}, rejects on a network failure or an unreadable answer. */
async function call(api, key, body, idempotencyKey) {
  const res = await fetch(api, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Api-Key": key, "Idempotency-Key": idempotencyKey },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** create_purchase, retried with the same Idempotency-Key until it is answered for good. */
export async function createPurchase(api, key, leadId, orderId, amount) {
  const body = { action: "create_purchase", lead_id: leadId, purchase_amount: amount, description: `Order ${orderId}` };
  const idempotencyKey = `purchase-${orderId}`;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    let answer;
    try {
      answer = await call(api, key, body, idempotencyKey);
    } catch (error) {
      // No answer, or half of one: the purchase may or may not have been written. The retry with the
      // same key finds out without writing it twice.
      const delay = 0.5 * 2 ** (attempt - 1);
      console.log(`attempt ${attempt}: no answer (${error.name}), retrying in ${delay} s`);
      await sleep(delay * 1000);
      continue;
    }
    const { status, headers, body: json } = answer;
    if (status === 200) {
      const replayed = headers.get("idempotent-replayed") === "true";
      console.log(`attempt ${attempt}: HTTP 200${replayed ? " (replayed)" : ""}`);
      return json;
    }
    if (status === 503 || status === 429 || status >= 500) {
      const delay = Number(headers.get("retry-after") ?? 2 ** (attempt - 1));
      console.log(`attempt ${attempt}: HTTP ${status} ${json.error}, retrying in ${delay} s`);
      await sleep(delay * 1000);
      continue;
    }
    throw new Error(`HTTP ${status} ${json.code}: ${json.error} (request_id ${json.request_id})`);
  }
  throw new Error(`no answer after ${MAX_ATTEMPTS} attempts; run again later: the same order id is safe`);
}

async function main() {
  const [orderId, amount] = process.argv.slice(2);
  if (!orderId || !amount || process.argv.length !== 4) {
    console.error("usage: node examples/client.mjs ORDER_ID AMOUNT   (env: API, RECEIVING_KEY, LEAD_ID)");
    process.exit(1);
  }
  const { API, RECEIVING_KEY, LEAD_ID } = process.env;
  let answer;
  try {
    answer = await createPurchase(API, RECEIVING_KEY, LEAD_ID, orderId, amount);
  } catch (error) {
    console.error(`error: ${error.message}`);
    process.exit(1);
  }
  const { purchase, reward_events: rewards } = answer;
  const list = rewards.map((r) => `${r.reward_type} ${r.amount} ${r.currency} ${r.status}`).join(", ");
  console.log(
    `purchase ${purchase.id}: ${purchase.purchase_amount} (${purchase.description}); rewards: ${list || "none"}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
