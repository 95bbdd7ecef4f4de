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
  // deno run --allow-net --allow-env examples/verify_webhook.ts  (WEBHOOK_SECRET=whsec_…)
  const secret = Deno.env.get("WEBHOOK_SECRET")!;
  Deno.serve({ hostname: "127.0.0.1", port: 9000 }, async (req) => {
    const body = await req.text();
    try {
      const event = verifyWebhook(secret, body, req.headers);
      console.log("verified", req.headers.get("webhook-id"), event);
      return new Response(null, { status: 204 });
    } catch {
      return new Response("invalid signature", { status: 400 });
    }
  });
}
