import { dbFromEnv } from "../_shared/db_from_env.ts";
import { createHandler } from "../_shared/handler.ts";
import { createWebhookSweeper } from "../_shared/webhooks.ts";

const db = dbFromEnv((name) => Deno.env.get(name));
const sweeper = createWebhookSweeper({ db });

// The edge runtime keeps the worker alive for a promise handed to EdgeRuntime.waitUntil, so
// webhooks are delivered after the response without delaying it.
declare const EdgeRuntime: { waitUntil(promise: Promise<unknown>): void } | undefined;
function inBackground(work: Promise<unknown>) {
  const logged = work.catch((error) => console.error(JSON.stringify({ webhook_sweep_error: String(error) })));
  if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(logged);
}

Deno.serve(createHandler({
  db,
  onWebhooksQueued: () => inBackground(sweeper.sweep()),
  sweep: { sweeper, secret: Deno.env.get("WEBHOOK_SWEEP_SECRET") },
}));
