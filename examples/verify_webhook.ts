// How a receiver checks a webhook from openapi-operations (Standard Webhooks format) with
// the `standardwebhooks` package; any Standard Webhooks library works the same way.
import { Webhook } from "standardwebhooks";

/** Returns the verified event, or throws when the signature, id or timestamp do not check out. */
export function verifyWebhook(secret: string, body: string, headers: Headers): unknown {
  return new Webhook(secret).verify(body, {
    "webhook-id": headers.get("webhook-id") ?? "",
    "webhook-timestamp": headers.get("webhook-timestamp") ?? "",
    "webhook-signature": headers.get("webhook-signature") ?? "",
  });
}

if (import.meta.main) {
  // A receiver for local testing (see docs/webhooks.md):
  //   WEBHOOK_SECRET=whsec_… deno run --allow-net --allow-env examples/verify_webhook.ts
  // listens on 127.0.0.1:9000 (RECEIVER_PORT to change it), answers 204 to a verified delivery
  // and 400 to any other, and prints each one with its body as received.
  const secret = Deno.env.get("WEBHOOK_SECRET");
  if (!secret) {
    console.error("WEBHOOK_SECRET is required: the channel's secret (deno task admin channel rotate-secret --id …)");
    Deno.exit(2);
  }
  const port = Number(Deno.env.get("RECEIVER_PORT") ?? "9000");
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: () => console.log(`receiving webhooks on http://127.0.0.1:${port}/`),
  }, async (req) => {
    const body = await req.text();
    const id = req.headers.get("webhook-id");
    try {
      verifyWebhook(secret, body, req.headers);
      console.log(`verified ${id}: ${body}`);
      return new Response(null, { status: 204 });
    } catch (error) {
      console.log(`refused ${id}: ${(error as Error).message}`);
      return new Response("invalid signature", { status: 400 });
    }
  });
}
