// Test support: a real database (DATABASE_URL, set by `deno task test`), the real handler
// on the direct adapter, fixtures built through the admin operations, and a request helper.
import postgres from "postgres";
import Stripe from "stripe";
import type { Db } from "../supabase/functions/_shared/db.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";
import * as ops from "../dev/admin_ops.ts";

/** The throwaway database of this test run. */
export const DATABASE_URL = (() => {
  const url = Deno.env.get("DATABASE_URL");
  if (!url) throw new Error("DATABASE_URL is not set: run the suite with `deno task test`");
  return url;
})();

/** The function's URL as clients call it. */
export const FUNCTION_URL = "http://127.0.0.1:8000/functions/v1/openapi-operations";

/** A handler over a real database, plus a SQL connection for fixtures and row checks. */
export interface TestEnv {
  sql: postgres.Sql;
  db: Db;
  handler: (req: Request) => Promise<Response>;
  /** Errors the handler logged (its 500s). */
  logged: unknown[];
  close(): Promise<void>;
}

/** Opens a TestEnv; close it at the end of the test. */
export function testEnv(): TestEnv {
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {} });
  // A generous deadline: these tests check behaviour, not timing, on a shared and busy machine
  // (tests/availability_test.ts checks the production deadline).
  const db = createPostgresDb(DATABASE_URL, { max: 20, deadlineMs: 10_000 });
  const logged: unknown[] = [];
  const handler = createHandler({ db, logError: (_id, error) => logged.push(error) });
  return {
    sql,
    db,
    handler,
    logged,
    close: async () => {
      await db.close();
      await sql.end();
    },
  };
}

/** Serves a handler over HTTP on a free loopback port; returns the function URL and a way to stop it. */
export function serveHandler(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}/functions/v1/openapi-operations`,
    stop: () => server.shutdown(),
  };
}

/** A response, read once. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/** Sends a request to the handler: `body` is JSON-encoded unless `raw` is given. */
export async function call(
  handler: (req: Request) => Promise<Response>,
  body: unknown,
  options: { key?: string; headers?: Record<string, string>; method?: string; raw?: BodyInit } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers["X-Api-Key"] = options.key;
  const method = options.method ?? "POST";
  const req = new Request(FUNCTION_URL, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : options.raw ?? JSON.stringify(body),
  });
  const res = await handler(req);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text };
}

/** The error body the API answers, with the request id taken from the reply. */
export function errorBody(reply: Reply, status: number, error: string, code: string) {
  return {
    status,
    body: { error, code, request_id: reply.headers.get("x-request-id") },
  };
}

/** The parts of a reply an error assertion compares. */
export function statusAndBody(reply: Reply) {
  return { status: reply.status, body: reply.body };
}

/** A company with an active API key. */
export interface Party {
  id: string;
  key: string;
  keyId: string;
}

/** Creates a company and an API key for it. */
export async function party(sql: postgres.Sql, name = "Company"): Promise<Party> {
  const company = await ops.createCompany(sql, { name });
  const key = await ops.createKey(sql, { company: company.id as string });
  return { id: company.id as string, key: key.api_key as string, keyId: key.id as string };
}

/** A channel with its four participants, an outsider, a first status, a lead and a product of the receiving company. */
export interface World {
  creator: Party;
  referring: Party;
  receiving: Party;
  partner: Party;
  outsider: Party;
  channelId: string;
  statusId: string;
  leadId: string;
  productId: string;
}

/**
 * Builds a fresh World; every id in it is new, so tests never share rows. With `partner: false`
 * the channel has no partner (the role is null); `purchaseWriters` and `holdDays` are the
 * channel's §7 settings (default receiving, 30).
 */
export async function world(
  sql: postgres.Sql,
  options: { currency?: string; partner?: boolean; purchaseWriters?: string; holdDays?: number } = {},
): Promise<World> {
  const [creator, referring, receiving, partner, outsider] = await Promise.all(
    ["Creator", "Referrer", "Receiver", "Partner", "Outsider"].map((name) => party(sql, name)),
  );
  const channel = await ops.createChannel(sql, {
    title: "Channel",
    creator: creator.id,
    referring: referring.id,
    receiving: receiving.id,
    partner: options.partner === false ? undefined : partner.id,
    currency: options.currency,
    purchaseWriters: options.purchaseWriters,
    holdDays: options.holdDays,
  });
  const channelId = channel.id as string;
  const status = await ops.createStatus(sql, { channel: channelId, name: "New" });
  const lead = await ops.createLead(sql, { channel: channelId, email: "lead@example.com" });
  const product = await ops.createProduct(sql, { company: receiving.id, name: "Annual plan" });
  return {
    creator,
    referring,
    receiving,
    partner,
    outsider,
    channelId,
    statusId: status.id as string,
    leadId: lead.id as string,
    productId: product.id as string,
  };
}

/** Row counts written for a lead: purchases, purchase events and reward events. */
export async function writtenFor(sql: postgres.Sql, leadId: string) {
  const [row] = await sql`
    select
      (select count(*)::int from public.purchases where leads_id = ${leadId}) as purchases,
      (select count(*)::int from public.events where leads_id = ${leadId} and category = 'purchase') as events,
      (select count(*)::int from public.reward_events where leads_id = ${leadId}) as reward_events`;
  return { purchases: row.purchases, events: row.events, reward_events: row.reward_events };
}

export { ops };

/** The exact key set of the API's Lead object, in order. */
export const LEAD_KEYS = [
  "id",
  "legacy_id",
  "created_at",
  "email",
  "first_name",
  "last_name",
  "phone",
  "company_name",
  "source",
  "employee",
  "referring_employee",
  "notes",
  "business_id",
  "channels_id",
  "lead_status_id",
  "status",
  "property_values",
];

/** Calls an action with a key and returns the reply. */
export function act(env: TestEnv, key: string | undefined, action: string, fields: Record<string, unknown> = {}) {
  return call(env.handler, { action, ...fields }, { key });
}

/** Rows written for a lead outside purchases: events by category, reward events, webhook deliveries. */
export async function leadEffects(sql: postgres.Sql, leadId: string) {
  const [row] = await sql`
    select
      (select count(*)::int from public.events where leads_id = ${leadId} and category = 'new_lead') as new_lead_events,
      (select count(*)::int from public.events where leads_id = ${leadId} and category = 'status_change') as status_events,
      (select count(*)::int from public.reward_events where leads_id = ${leadId}) as reward_events,
      (select count(*)::int from public.webhook_deliveries d join public.events e on e.id = d.events_id
        where e.leads_id = ${leadId}) as webhooks`;
  return { ...row };
}

/** What the PostgREST stub saw of one request. */
export interface Seen {
  method: string;
  path: string;
  apikey: string | null;
  authorization: string | null;
  contentType: string | null;
  keys: string[];
  parameters: string[];
}

async function parametersOf(sql: postgres.Sql, fn: string) {
  const [row] = await sql`
    select p.proargnames as names, array(select format_type(t, null) from unnest(p.proargtypes) t) as types
    from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = ${fn}`;
  return { names: row.names as string[], types: row.types as string[] };
}

/**
 * A stand-in for PostgREST (none can run here): checks nothing itself but records the exact
 * request (path, auth headers, body keys vs the SQL function's parameter names from pg_proc)
 * and answers as PostgREST does, by running the call on the real database: the json result as
 * Postgres wrote it, or a PTxxx SQLSTATE as that HTTP status with {code, message, details, hint}.
 */
export function postgrestStub(sql: postgres.Sql, seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const fn = url.pathname.replace("/rest/v1/rpc/", "");
    const body = await request.json() as Record<string, unknown>;
    const { names, types } = await parametersOf(sql, fn);
    seen.push({
      method: request.method,
      path: url.pathname,
      apikey: request.headers.get("apikey"),
      authorization: request.headers.get("authorization"),
      contentType: request.headers.get("content-type"),
      keys: Object.keys(body).sort(),
      parameters: [...names].sort(),
    });
    const call = names.map((name, i) => `${name} => $${i + 1}::${types[i]}`).join(", ");
    try {
      const [row] = await sql.unsafe(
        `select public.${fn}(${call})::text as result`,
        names.map((name) => body[name]) as postgres.ParameterOrJSON<never>[],
      );
      // PostgREST sends a function's json result as Postgres wrote it.
      return new Response(row.result, { status: 200, headers: { "Content-Type": "application/json" } });
    } catch (error) {
      const e = error as { code: string; message: string; hint?: string; detail?: string };
      const status = /^PT\d{3}$/.test(e.code) ? Number(e.code.slice(2)) : 400;
      return Response.json({ code: e.code, message: e.message, details: e.detail ?? null, hint: e.hint ?? null }, {
        status,
      });
    }
  };
}

/**
 * A TCP relay on 127.0.0.1:`port` to the real database that can be cut (connections closed,
 * new ones refused), hung (connections accepted and never answered) and restored; `tap` sees
 * every chunk a client sends.
 */
export function relay(port: number, target: { hostname: string; port: number }, tap?: (chunk: Uint8Array) => void) {
  let listener: Deno.Listener | null = null;
  let hang = false;
  const open = new Set<Deno.Conn>();
  async function pipe(from: Deno.Conn, to: Deno.Conn, tap?: (chunk: Uint8Array) => void) {
    try {
      const tapped = tap
        ? from.readable.pipeThrough(new TransformStream({ transform: (chunk, c) => (tap(chunk), c.enqueue(chunk)) }))
        : from.readable;
      await tapped.pipeTo(to.writable);
    } catch {
      // the other side closed
    }
  }
  function closeAll() {
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    open.clear();
  }
  return {
    up() {
      hang = false;
      if (listener) return;
      const accepting = Deno.listen({ hostname: "127.0.0.1", port });
      listener = accepting;
      (async () => {
        for await (const client of accepting) {
          open.add(client);
          if (hang) continue;
          const server = await Deno.connect({ hostname: target.hostname, port: target.port });
          open.add(server);
          pipe(client, server, tap);
          pipe(server, client);
        }
      })().catch(() => {});
    },
    /** Closes every connection and refuses new ones. */
    down() {
      listener?.close();
      listener = null;
      closeAll();
    },
    /** Closes every connection; new ones are accepted and never answered. */
    hang() {
      hang = true;
      closeAll();
    },
  };
}

/**
 * Posts a payload to a Stripe connection's route, signed as Stripe signs it (the stripe package's
 * test header; `signature` replaces it, null sends none).
 */
export async function sendStripe(
  handler: (req: Request) => Promise<Response>,
  connectionId: string,
  payload: unknown,
  options: { secret: string; timestamp?: number; signature?: string | null },
): Promise<Reply> {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  const signature = options.signature !== undefined ? options.signature : await Stripe.webhooks
    .generateTestHeaderStringAsync({
      payload: text,
      secret: options.secret,
      timestamp: options.timestamp,
      cryptoProvider: Stripe.createSubtleCryptoProvider(),
    });
  const headers: Record<string, string> = signature === null ? {} : { "Stripe-Signature": signature };
  const res = await handler(
    new Request(`${FUNCTION_URL}/stripe/${connectionId}`, { method: "POST", headers, body: text }),
  );
  const body = await res.text();
  return { status: res.status, headers: res.headers, body: body ? JSON.parse(body) : null, text: body };
}

/** A request a webhook receiver got. */
export interface Received {
  path: string;
  body: string;
  headers: Headers;
}

/**
 * A webhook receiver on 127.0.0.1 whose paths behave differently: /fail answers 500, /flaky fails twice then 200,
 * /redirect answers 302, /hang never answers (until close or the caller gives up), anything else (/ok) 204.
 */
export function receiver() {
  const received: Received[] = [];
  let flaky = 0;
  const hanging: (() => void)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    received.push({ path, body: await req.text(), headers: req.headers });
    if (path === "/fail") return new Response(null, { status: 500 });
    if (path === "/flaky") return new Response(null, { status: ++flaky <= 2 ? 500 : 200 });
    if (path === "/redirect") return Response.redirect("http://127.0.0.1:1/elsewhere", 302);
    if (path === "/hang") {
      await new Promise<void>((resolve) => hanging.push(resolve));
      return new Response(null, { status: 200 });
    }
    return new Response(null, { status: 204 });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    received,
    close: async () => {
      hanging.forEach((release) => release());
      await server.shutdown();
    },
  };
}

/** The object keys of a JSON text, in the order they are written (nested ones included). */
export function keySequence(text: string): string[] {
  return [...text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?/g)].filter((m) => m[1]).map((m) =>
    JSON.parse(m[0].replace(/\s*:$/, ""))
  );
}
