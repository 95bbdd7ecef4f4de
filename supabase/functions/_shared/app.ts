// The one composition root: the deployed index.ts and the local server (`deno task start`)
// both build the function with createApp, so local runs exercise the deployed code path.
import { coalesce } from "./coalesce.ts";
import { dbFromEnv, type EnvReader } from "./db_from_env.ts";
import { type ConnectionInfo, createHandler } from "./handler.ts";
import { createWebhookSweeper } from "./webhooks.ts";

/**
 * How long after an action that may have queued webhook deliveries its sweep starts: the actions of that window share
 * one sweep (two database calls), which one per action would add to every request.
 */
const SWEEP_DELAY_MS = 50;

/** The function, built from its environment. */
export interface App {
  handler: (req: Request, info?: ConnectionInfo) => Promise<Response>;
  /** Starts a webhook sweep in the background, or, while one of this instance runs, one more after it. */
  sweepInBackground(): void;
  /** Starts a sweep an action asked for, waits for the sweeps running or asked for, and closes the database connections. */
  close(): Promise<void>;
}

// The edge runtime keeps the worker alive for a promise handed to EdgeRuntime.waitUntil, so
// work started for a response (webhook deliveries) outlives it; elsewhere the promise just runs.
declare const EdgeRuntime: { waitUntil(promise: Promise<unknown>): void } | undefined;
function keepAlive(work: Promise<unknown>): void {
  if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(work);
}

// TRUSTED_PROXY_HOPS: X-Forwarded-For entries appended by trusted proxies (default 1; 0: no
// proxy, the header is ignored and the connection's address counts).
function proxyHops(value: string | undefined): number {
  if (value === undefined) return 1;
  if (!/^[0-9]$/.test(value)) {
    throw new Error(`TRUSTED_PROXY_HOPS must be an integer from 0 to 9, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/**
 * Builds the function from its environment: the database adapter (see dbFromEnv), the
 * webhook sweeper (WEBHOOK_ALLOW_PRIVATE_URLS=true lets webhooks reach loopback and private
 * addresses, for local development only) and the handler with the sweep endpoint
 * (WEBHOOK_SWEEP_SECRET).
 */
export function createApp(env: EnvReader): App {
  const db = dbFromEnv(env);
  const sweeper = createWebhookSweeper({ db, allowPrivateUrls: env("WEBHOOK_ALLOW_PRIVATE_URLS") === "true" });
  let sweeping: Promise<unknown> | null = null;
  // Whether a sweep was asked for while one ran: what was queued after that one's claims waits for the next.
  let again = false;
  function background(work: Promise<unknown>): void {
    keepAlive(work.catch((error) => console.error(JSON.stringify({ background_error: String(error) }))));
  }
  function sweepInBackground() {
    if (sweeping) {
      again = true;
      return;
    }
    sweeping = sweeper.sweep().finally(() => {
      sweeping = null;
      if (again) {
        again = false;
        sweepInBackground();
      }
    });
    background(sweeping);
  }
  const sweepSoon = coalesce(sweepInBackground, SWEEP_DELAY_MS);
  const handler = createHandler({
    db,
    onWebhooksQueued: () => {
      const waiting = sweepSoon.request();
      if (waiting) background(waiting);
    },
    background,
    sweep: { sweeper, secret: env("WEBHOOK_SWEEP_SECRET") },
    trustedProxyHops: proxyHops(env("TRUSTED_PROXY_HOPS")),
  });
  return {
    handler,
    sweepInBackground,
    close: async () => {
      sweepSoon.flush();
      while (sweeping) await sweeping.catch(() => {});
      await db.close();
    },
  };
}
