// The operator's writes, shared by the admin CLI, the demo seed and the test fixtures.
// Each is one statement; amounts travel as decimal strings into numeric columns.
import type postgres from "postgres";
import { Buffer } from "node:buffer";
import { hashApiKey } from "../supabase/functions/_shared/api_key.ts";
import { webhookUrlRefusal } from "../supabase/functions/_shared/webhook_url.ts";

type Sql = postgres.Sql | postgres.TransactionSql;
type Row = Record<string, unknown>;

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Creates a company. */
export async function createCompany(sql: Sql, o: { name: string }): Promise<Row> {
  const [row] = await sql`insert into public.companies (name) values (${o.name}) returning *`;
  return row;
}

/** Creates an API key; the plaintext `api_key` is returned here once and stored only as its SHA-256. */
export async function createKey(sql: Sql, o: { company: string; name?: string }): Promise<Row> {
  const apiKey = `sk_${Buffer.from(randomBytes(32)).toString("base64url")}`;
  const [row] = await sql`
    insert into public.api_keys (companies_id, name, prefix, key_hash)
    values (${o.company}, ${o.name ?? null}, ${apiKey.slice(0, 10)}, ${await hashApiKey(apiKey)})
    returning id, companies_id, name, prefix, created_at`;
  return { ...row, api_key: apiKey };
}

/** Revokes an API key; it answers 401 from then on. */
export async function revokeKey(sql: Sql, o: { id: string }): Promise<Row> {
  const [row] = await sql`
    update public.api_keys set revoked_at = coalesce(revoked_at, now()) where id = ${o.id}
    returning id, companies_id, prefix, revoked_at`;
  if (!row) throw new Error(`No API key with id ${o.id}`);
  return row;
}

/** Creates a channel between companies, with a fresh webhook signing secret (returned once). */
export async function createChannel(sql: Sql, o: {
  title: string;
  creator: string;
  referring: string;
  receiving: string;
  partner?: string;
  currency?: string;
  public?: boolean;
  webhookNewLead?: string;
  webhookStatusUpdate?: string;
}): Promise<Row> {
  for (const url of [o.webhookNewLead, o.webhookStatusUpdate]) {
    // Private addresses are refused at delivery time (unless allowed there); here only the form.
    const refusal = url === undefined ? null : await webhookUrlRefusal(url, { allowPrivate: true });
    if (refusal) throw new Error(`Webhook URL ${url} ${refusal}`);
  }
  const [row] = await sql`
    insert into public.channels (title, creator, partner, referring_id, receiving_id, currency,
      no_auth_api, webhook_new_lead, webhook_status_update, webhook_secret)
    values (${o.title}, ${o.creator}, ${o.partner ?? null}, ${o.referring}, ${o.receiving},
      ${o.currency ?? "USD"}, ${o.public ?? false}, ${o.webhookNewLead ?? null},
      ${o.webhookStatusUpdate ?? null}, ${`whsec_${Buffer.from(randomBytes(24)).toString("base64")}`})
    returning *`;
  return row;
}

/** Adds a lead status to a channel; default order is after the last one. */
export async function createStatus(sql: Sql, o: {
  channel: string;
  name: string;
  order?: number;
  color?: string;
}): Promise<Row> {
  const [row] = await sql`
    insert into public.lead_status (channels_id, status, "order", color)
    values (${o.channel}, ${o.name},
      coalesce(${o.order ?? null}::integer,
        (select coalesce(max("order") + 1, 0) from public.lead_status where channels_id = ${o.channel})),
      ${o.color ?? null})
    returning *`;
  return row;
}

/** Adds a property definition to a channel. */
export async function createProperty(sql: Sql, o: {
  channel: string;
  name: string;
  type?: string;
}): Promise<Row> {
  const [row] = await sql`
    insert into public.property_definitions (channels_id, name, type, "order")
    values (${o.channel}, ${o.name}, ${o.type ?? "text"},
      (select coalesce(max("order") + 1, 0) from public.property_definitions where channels_id = ${o.channel}))
    returning *`;
  return row;
}

/** Adds a product to a company's catalog. */
export async function createProduct(sql: Sql, o: {
  company: string;
  name: string;
  description?: string;
}): Promise<Row> {
  const [row] = await sql`
    insert into public.products (companies_id, name, description)
    values (${o.company}, ${o.name}, ${o.description ?? null})
    returning *`;
  return row;
}

/** Adds a reward trigger to a channel. */
export async function createTrigger(sql: Sql, o: {
  channel: string;
  on: string;
  reward: string;
  amount: string;
  statusId?: string;
  inactive?: boolean;
  name?: string;
}): Promise<Row> {
  const [row] = await sql`
    insert into public.reward_triggers (channels_id, name, trigger, lead_status_id, reward_type, amount, status)
    values (${o.channel}, ${o.name ?? null}, ${o.on}, ${o.statusId ?? null}, ${o.reward},
      ${o.amount}::numeric, ${o.inactive ? "Inactive" : "Active"})
    returning *`;
  return row;
}

/** Creates a lead on a channel, in the channel's first status. */
export async function createLead(sql: Sql, o: {
  channel: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  companyName?: string;
}): Promise<Row> {
  const [row] = await sql`
    insert into public.leads (channels_id, lead_status_id, email, first_name, last_name, company_name)
    values (${o.channel},
      (select id from public.lead_status where channels_id = ${o.channel} order by "order", created_at limit 1),
      ${o.email ?? null}, ${o.firstName ?? null}, ${o.lastName ?? null}, ${o.companyName ?? null})
    returning *`;
  return row;
}

/** Replaces a channel's webhook signing secret; the new one is returned here once. */
export async function rotateWebhookSecret(sql: Sql, o: { id: string }): Promise<Row> {
  const [row] = await sql`
    update public.channels set webhook_secret = ${`whsec_${Buffer.from(randomBytes(24)).toString("base64")}`}
    where id = ${o.id} returning id, webhook_secret`;
  if (!row) throw new Error(`No channel with id ${o.id}`);
  return row;
}

/** A channel's webhook deliveries, newest first, each with its attempts. */
export async function listDeliveries(sql: Sql, o: { channel: string; limit?: number }): Promise<Row> {
  const deliveries = await sql`
    select d.id, d.created_at, d.type, d.url, d.events_id, d.status, d.attempts, d.next_attempt_at,
      d.delivered_at, d.last_error,
      coalesce((select json_agg(json_build_object('attempt', a.attempt, 'created_at', a.created_at,
        'status_code', a.status_code, 'latency_ms', a.latency_ms, 'error', a.error) order by a.attempt, a.created_at)
        from public.webhook_attempts a where a.webhook_deliveries_id = d.id), '[]') as attempt_log
    from public.webhook_deliveries d where d.channels_id = ${o.channel}
    order by d.created_at desc, d.id desc limit ${o.limit ?? 50}`;
  return { deliveries };
}

/** Queues a delivery again for an immediate attempt, whatever its status. */
export async function redeliver(sql: Sql, o: { id: string }): Promise<Row> {
  const [row] = await sql`
    update public.webhook_deliveries set status = 'pending', next_attempt_at = now(), delivered_at = null
    where id = ${o.id} returning id, status, attempts, next_attempt_at`;
  if (!row) throw new Error(`No webhook delivery with id ${o.id}`);
  return row;
}
