// The Stripe route (`POST …/openapi-operations/stripe/<connection id>`, docs/guide.md "Recording
// sales from Stripe"): verifies the request's Stripe-Signature with the connection's signing secret
// (the official `stripe` package, SubtleCrypto, 5 minutes of tolerance) and hands the event to
// public.stripe_event, which processes it once in one transaction.
import type { ActionResult } from "./action.ts";
import { type Db, rpcValue } from "./db.ts";
import { compactJson, isRawJson, parseExact } from "./exact_json.ts";
import { ApiError } from "./errors.ts";

/** How old a signed request may be, in seconds. */
export const STRIPE_TOLERANCE_SECONDS = 300;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
// The stripe package (hundreds of modules) loads with the first Stripe request, not when a worker boots
// (tests/cold_start_test.ts).
const loadVerifier = () =>
  import("stripe").then(({ default: Stripe }) => ({
    webhooks: Stripe.webhooks,
    cryptoProvider: Stripe.createSubtleCryptoProvider(),
  }));
let verifier: ReturnType<typeof loadVerifier> | null = null;

function notFound(): ApiError {
  return new ApiError(404, "connection_not_found", "Connection not found");
}

function invalidSignature(): ApiError {
  return new ApiError(400, "invalid_signature", "Invalid signature");
}

/** Verifies and records one Stripe event for a connection; the answer to Stripe. */
export async function stripeEvent(
  db: Db,
  connectionId: string,
  bytes: Uint8Array,
  signature: string | null,
): Promise<ActionResult> {
  if (!UUID.test(connectionId)) throw notFound();
  const { signing_secret: secret } = await rpcValue<{ signing_secret: string }>(db, "stripe_signing_secret", {
    connection_id: connectionId,
  });
  const { webhooks, cryptoProvider } = await (verifier ??= loadVerifier());
  let text: string;
  try {
    text = UTF8.decode(bytes);
    await webhooks.constructEventAsync(text, signature ?? "", secret, STRIPE_TOLERANCE_SECONDS, cryptoProvider);
  } catch {
    throw invalidSignature();
  }
  // Signed by Stripe, so JSON; parsed keeping every number's digits for the database.
  let event: unknown;
  try {
    event = parseExact(text);
  } catch {
    throw new ApiError(400, "invalid_event", "Invalid event");
  }
  if (typeof event !== "object" || event === null || Array.isArray(event) || isRawJson(event)) {
    throw new ApiError(400, "invalid_event", "Invalid event");
  }
  const body = await db.rpc("stripe_event", {
    connection_id: connectionId,
    event: event as Record<string, unknown>,
  });
  return { body: compactJson(body), replayed: false };
}
