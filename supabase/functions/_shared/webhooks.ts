// Webhook delivery after commit: sweepers claim due rows of the outbox
// (public.webhook_deliveries) with a lease, POST them signed in the Standard Webhooks format,
// and record every attempt; failures are retried with exponential backoff and jitter until
// the retry window (24 h) ends. Delivery is at-least-once: receivers deduplicate on
// Webhook-Id, which is the event id and stays the same across retries.
import { Webhook } from "standardwebhooks";
import { type Db, rpcValue } from "./db.ts";
import { DnsError, type Resolver, webhookUrlRefusal } from "./webhook_url.ts";

/** Tuning of a sweeper; the defaults are the production values. */
export interface SweeperOptions {
  db: Db;
  fetch?: typeof fetch;
  /** Allow loopback and private addresses, on any port (local development and tests only). */
  allowPrivateUrls?: boolean;
  resolve?: Resolver;
  /** Per-attempt timeout; default 10 s. */
  timeoutMs?: number;
  /** Delay before the first retry, doubled each attempt; default 5 s. */
  baseDelayMs?: number;
  /** Longest delay between attempts; default 1 h. */
  maxDelayMs?: number;
  /** Rows claimed per round; default 50. */
  batchSize?: number;
  /** How long a claim is held before another sweeper may retake it; default 60 s (over the timeout). */
  leaseSeconds?: number;
  /** Source of jitter, in [0, 1); default Math.random. */
  random?: () => number;
}

/** What a sweep did. */
export interface SweepResult {
  claimed: number;
  delivered: number;
  retrying: number;
  failed: number;
  /** Attempts made whose outcome could not be recorded. */
  errors: number;
}

interface Claimed {
  id: string;
  event_id: string;
  url: string;
  /** The JSON text stored in the outbox: signed and sent as it is. */
  payload: string;
  secret: string | null;
  attempt: number;
}

/** Limits of one sweep. */
export interface SweepLimits {
  /** Most batches; default 20. */
  maxRounds?: number;
  /**
   * No batch is started once this many milliseconds have passed since the sweep began;
   * default 25 s. A batch already started still runs to its end (at most the per-attempt
   * timeout), so a sweep lasts at most about budgetMs + timeoutMs: with the defaults 35 s,
   * well inside an edge function's wall-clock limit.
   */
  budgetMs?: number;
}

/** A webhook sweeper. */
export interface Sweeper {
  /** Claims and delivers one batch. */
  sweepOnce(): Promise<SweepResult>;
  /**
   * Queues the announcements of hold periods that ended since the last sweep
   * (public.announce_reward_approvals), then sweeps batches until one is not full, the rounds
   * run out or the time budget is spent.
   */
  sweep(limits?: SweepLimits): Promise<SweepResult>;
}

// The Standard Webhooks signature, or null when the channel has no usable secret.
function sign(d: Claimed, timestamp: Date, body: string): string | null {
  if (!d.secret) return null;
  try {
    return new Webhook(d.secret).sign(d.event_id, timestamp, body);
  } catch {
    return null;
  }
}

/** Builds a sweeper over the API's database adapter. */
export function createWebhookSweeper(options: SweeperOptions): Sweeper {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const baseDelayMs = options.baseDelayMs ?? 5_000;
  const maxDelayMs = options.maxDelayMs ?? 60 * 60 * 1000;
  const batchSize = options.batchSize ?? 50;
  const random = options.random ?? Math.random;

  function retryDelay(attempt: number): number {
    const delay = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
    return Math.round(delay * (0.8 + 0.4 * random()));
  }

  // What keeps an attempt from being sent, if anything: a refused URL (permanent) or a host
  // name that does not resolve now (retried).
  async function urlProblem(url: string): Promise<{ error: string; retry: boolean } | null> {
    try {
      const refusal = await webhookUrlRefusal(url, {
        allowPrivate: options.allowPrivateUrls ?? false,
        resolve: options.resolve,
      });
      return refusal ? { error: refusal, retry: false } : null;
    } catch (e) {
      if (!(e instanceof DnsError)) throw e;
      return { error: `dns error: ${e.message}`, retry: true };
    }
  }

  // One attempt: returns the delivery's status afterwards.
  async function deliver(d: Claimed): Promise<string> {
    const started = performance.now();
    const problem = await urlProblem(d.url);
    const timestamp = new Date();
    const signature = sign(d, timestamp, d.payload);
    let statusCode: number | null = null;
    let error: string | null = null;
    let retry = true;
    if (problem) {
      ({ error, retry } = problem);
    } else if (!signature) {
      error = "refused: the channel has no valid webhook secret";
      retry = false;
    } else {
      try {
        const res = await send(d.url, {
          method: "POST",
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
          headers: {
            "Content-Type": "application/json",
            "User-Agent": "openapi-operations-webhooks",
            "Webhook-Id": d.event_id,
            "Webhook-Timestamp": String(Math.floor(timestamp.getTime() / 1000)),
            "Webhook-Signature": signature,
          },
          body: d.payload,
        });
        statusCode = res.status;
        await res.body?.cancel();
      } catch (e) {
        error = (e as Error).name === "TimeoutError"
          ? `timeout after ${timeoutMs} ms`
          : `connection error: ${(e as Error).message}`;
      }
    }
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const result = await rpcValue<{ status: string }>(options.db, "record_webhook_attempt", {
      delivery_id: d.id,
      attempt: d.attempt,
      status_code: statusCode,
      latency_ms: Math.round(performance.now() - started),
      error,
      retry_in_ms: delivered || !retry ? null : retryDelay(d.attempt),
    });
    return result.status;
  }

  async function sweepOnce(): Promise<SweepResult> {
    const claimed = await rpcValue<Claimed[]>(options.db, "claim_webhook_deliveries", {
      batch_size: batchSize,
      lease_seconds: options.leaseSeconds ?? 60,
    });
    // One delivery whose attempt cannot be recorded (database gone) must not abandon the
    // others: its claim expires with the lease and it is attempted again.
    const outcomes = await Promise.allSettled(claimed.map(deliver));
    const statuses = outcomes.map((o) => o.status === "fulfilled" ? o.value : "error");
    return {
      claimed: claimed.length,
      delivered: statuses.filter((s) => s === "delivered").length,
      retrying: statuses.filter((s) => s === "pending").length,
      failed: statuses.filter((s) => s === "failed").length,
      errors: statuses.filter((s) => s === "error").length,
    };
  }

  async function sweep(limits: SweepLimits = {}): Promise<SweepResult> {
    const maxRounds = limits.maxRounds ?? 20;
    const budgetMs = limits.budgetMs ?? 25_000;
    const started = performance.now();
    const total: SweepResult = { claimed: 0, delivered: 0, retrying: 0, failed: 0, errors: 0 };
    await rpcValue<{ announced: number }>(options.db, "announce_reward_approvals", {});
    for (let round = 0; round < maxRounds && performance.now() - started < budgetMs; round++) {
      const result = await sweepOnce();
      for (const key of Object.keys(total) as (keyof SweepResult)[]) total[key] += result[key];
      if (result.claimed < batchSize) break;
    }
    return total;
  }

  return { sweepOnce, sweep };
}
