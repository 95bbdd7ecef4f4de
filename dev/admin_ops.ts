// The operator's writes, shared by the admin CLI, the demo seed and the test fixtures.
// Each is one statement; amounts travel as decimal strings into numeric columns.
import type postgres from "postgres";
import { Buffer } from "node:buffer";
import { stringify } from "npm:csv-stringify@6.9.0/sync";
import { hashApiKey } from "../supabase/functions/_shared/api_key.ts";
import { webhookUrlRefusal } from "../supabase/functions/_shared/webhook_url.ts";
import { parseExact } from "../supabase/functions/_shared/exact_json.ts";

type Sql = postgres.Sql | postgres.TransactionSql;
type Row = Record<string, unknown>;

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

// Existence checks that turn what would be a foreign key violation into a message an operator
// can act on.
async function requireCompany(sql: Sql, id: string): Promise<void> {
  const [row] = await sql`select 1 from public.companies where id = ${id}`;
  if (!row) throw new Error(`No company with id ${id}`);
}

async function requireChannel(sql: Sql, id: string): Promise<void> {
  const [row] = await sql`select 1 from public.channels where id = ${id}`;
  if (!row) throw new Error(`No channel with id ${id}`);
}

async function requireCurrency(sql: Sql, code: string): Promise<void> {
  const [row] = await sql`select 1 from public.currencies where code = ${code}`;
  if (!row) throw new Error(`Unknown currency ${code}`);
}

function requireOneOf(flag: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) {
    throw new Error(
      `--${flag} must be ${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}, got ${JSON.stringify(value)}`,
    );
  }
}

// A name or title given but blank (empty or only white space) would list as nothing.
function requireNotBlank(flag: string, value: string | undefined): void {
  if (value !== undefined && value.trim() === "") throw new Error(`--${flag} must not be blank`);
}

/**
 * A row with its money `amount` (numeric, which postgres.js reads as text) as a JSON number
 * with every digit: `12.5` prints as 12.5, `2852199999999999.99` as that, never as a float's
 * rounding of it.
 */
export function withExactAmount(row: Row): Row {
  return { ...row, amount: parseExact(String(row.amount)) };
}

// A bigint column (legacy_id) comes back from postgres.js as a string; printed as a number.
function withLegacyId(row: Row): Row {
  return row.legacy_id === undefined ? row : { ...row, legacy_id: Number(row.legacy_id) };
}

/** Every company, oldest first. */
export async function listCompanies(sql: Sql): Promise<Row[]> {
  return await sql`select id, name, created_at from public.companies order by created_at, id`;
}

/** Creates a company. */
export async function createCompany(sql: Sql, o: { name: string }): Promise<Row> {
  requireNotBlank("name", o.name);
  const [row] = await sql`insert into public.companies (name) values (${o.name}) returning *`;
  return row;
}

/** Creates an API key; the plaintext `api_key` is returned here once and stored only as its SHA-256. */
export async function createKey(sql: Sql, o: { company: string; name?: string }): Promise<Row> {
  requireNotBlank("name", o.name);
  await requireCompany(sql, o.company);
  const apiKey = `sk_${Buffer.from(randomBytes(32)).toString("base64url")}`;
  const [row] = await sql`
    insert into public.api_keys (companies_id, name, prefix, key_hash)
    values (${o.company}, ${o.name ?? null}, ${apiKey.slice(0, 10)}, ${hashApiKey(apiKey)})
    returning id, companies_id, name, prefix, created_at`;
  return { ...row, api_key: apiKey };
}

/** A company's API keys, oldest first: id, name, prefix, created_at, revoked_at; never the key or its hash. */
export async function listKeys(sql: Sql, o: { company: string }): Promise<Row[]> {
  await requireCompany(sql, o.company);
  return await sql`
    select id, name, prefix, created_at, revoked_at from public.api_keys
    where companies_id = ${o.company} order by created_at, id`;
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
export async function createChannel(
  sql: Sql,
  o: {
    title: string;
    creator: string;
    referring: string;
    receiving: string;
    partner?: string;
    currency?: string;
    public?: boolean;
    webhookNewLead?: string;
    webhookStatusUpdate?: string;
    webhookMoney?: string;
  } & ChannelSettings,
): Promise<Row> {
  requireNotBlank("title", o.title);
  await checkChannelSettings(o);
  for (const company of [o.creator, o.referring, o.receiving, o.partner]) {
    if (company !== undefined) await requireCompany(sql, company);
  }
  await requireCurrency(sql, o.currency ?? "USD");
  const [row] = await sql`
    insert into public.channels (title, creator, partner, referring_id, receiving_id, currency,
      no_auth_api, webhook_new_lead, webhook_status_update, webhook_money, webhook_secret, purchase_writers,
      hold_days, intake_per_minute)
    values (${o.title}, ${o.creator}, ${o.partner ?? null}, ${o.referring}, ${o.receiving},
      ${o.currency ?? "USD"}, ${o.public ?? false}, ${o.webhookNewLead || null},
      ${o.webhookStatusUpdate || null}, ${o.webhookMoney || null}, ${`whsec_${
    Buffer.from(randomBytes(24)).toString("base64")
  }`},
      ${o.purchaseWriters ?? "receiving"}, ${o.holdDays ?? 30}, ${o.intakePerMinute ?? 10})
    returning *`;
  return row;
}

/**
 * The settings of a channel that `channel update` changes: who records purchases, the hold
 * period, the public intake limit (docs/guide.md, "The intake guard") and the webhook URLs ("" clears one).
 */
export interface ChannelSettings {
  purchaseWriters?: string;
  holdDays?: number;
  intakePerMinute?: number;
  webhookNewLead?: string;
  webhookStatusUpdate?: string;
  webhookMoney?: string;
}

// Refuses settings the database would refuse too, with messages an operator can act on, before
// anything is written.
async function checkChannelSettings(o: ChannelSettings) {
  if (o.purchaseWriters !== undefined && !["receiving", "any"].includes(o.purchaseWriters)) {
    throw new Error(`--purchase-writers must be receiving or any, got ${JSON.stringify(o.purchaseWriters)}`);
  }
  if (o.holdDays !== undefined && !(o.holdDays >= 0 && o.holdDays <= 3650)) {
    throw new Error("--hold-days must be between 0 and 3650");
  }
  if (o.intakePerMinute !== undefined && !(o.intakePerMinute >= 1 && o.intakePerMinute <= 10000)) {
    throw new Error("--intake-per-minute must be between 1 and 10000");
  }
  for (const url of [o.webhookNewLead, o.webhookStatusUpdate, o.webhookMoney]) {
    // Private addresses are refused at delivery time (unless allowed there); here only the form.
    const refusal = url ? await webhookUrlRefusal(url, { allowPrivate: true }) : null;
    if (refusal) throw new Error(`Webhook URL ${url} ${refusal}`);
  }
}

/** Changes a channel's settings; settings not given keep their value, a webhook URL given as "" is cleared. */
export async function updateChannel(sql: Sql, o: { id: string } & ChannelSettings): Promise<Row> {
  await checkChannelSettings(o);
  const [row] = await sql`
    update public.channels set
      purchase_writers = coalesce(${o.purchaseWriters ?? null}, purchase_writers),
      hold_days = coalesce(${o.holdDays ?? null}::integer, hold_days),
      intake_per_minute = coalesce(${o.intakePerMinute ?? null}::integer, intake_per_minute),
      webhook_new_lead = case when ${o.webhookNewLead === undefined} then webhook_new_lead
        else ${o.webhookNewLead || null} end,
      webhook_status_update = case when ${o.webhookStatusUpdate === undefined} then webhook_status_update
        else ${o.webhookStatusUpdate || null} end,
      webhook_money = case when ${o.webhookMoney === undefined} then webhook_money else ${o.webhookMoney || null} end
    where id = ${o.id}
    returning id, title, purchase_writers, hold_days, intake_per_minute, webhook_new_lead, webhook_status_update,
      webhook_money`;
  if (!row) throw new Error(`No channel with id ${o.id}`);
  return row;
}

/**
 * Channels, oldest first, with their settings but never their webhook secret; with `company`,
 * only the channels that company takes part in (creator, partner, referring or receiving).
 */
export async function listChannels(sql: Sql, o: { company?: string }): Promise<Row[]> {
  if (o.company !== undefined) await requireCompany(sql, o.company);
  return await sql`
    select id, uuid, title, created_at, creator, partner, referring_id, receiving_id, currency, no_auth_api,
      webhook_new_lead, webhook_status_update, webhook_money, purchase_writers, hold_days, intake_per_minute
    from public.channels c
    where ${o.company ?? null}::uuid is null
      or ${o.company ?? null}::uuid in (c.creator, c.partner, c.referring_id, c.receiving_id)
    order by created_at, id`;
}

const PAYOUT_COLUMNS = [
  "payout_id",
  "channel_id",
  "beneficiary_company_id",
  "beneficiary_name",
  "currency",
  "amount",
  "status",
  "reference",
  "created_at",
  "paid_at",
] as const;

/** Every payout of a channel, newest first, amounts as exact decimal text (see withExactAmount). */
export async function listPayouts(sql: Sql, o: { channel: string }): Promise<Row[]> {
  const [channel] = await sql`select id from public.channels where id = ${o.channel}`;
  if (!channel) throw new Error(`No channel with id ${o.channel}`);
  return await sql`
    select p.id as payout_id, p.channels_id as channel_id, p.beneficiary_companies_id as beneficiary_company_id,
      c.name as beneficiary_name, p.currency, p.amount::text as amount, p.status, p.reference,
      internal.iso_time(p.created_at) as created_at, internal.iso_time(p.paid_at) as paid_at
    from public.payouts p left join public.companies c on c.id = p.beneficiary_companies_id
    where p.channels_id = ${o.channel}
    order by p.created_at desc, p.id desc`;
}

/**
 * Payouts as RFC 4180 CSV with a header row and CRLF line ends, for a mass payment tool. A text
 * cell that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, TAB or CR,
 * or their full-width forms) gets a leading `'` (OWASP's CSV injection advice); a cell holding a
 * CR or LF is quoted. Amounts are numbers, written as they are.
 */
export function payoutsCsv(payouts: Row[]): string {
  return stringify(payouts, {
    header: true,
    columns: [...PAYOUT_COLUMNS],
    record_delimiter: "\r\n",
    quote_record_delimiter: true,
    escape_formulas: true,
    cast: {
      string: (value, context) => context.column === "amount" ? { value, escape_formulas: false } : value,
    },
  });
}

/** Adds a lead status to a channel; default order is after the last one. */
export async function createStatus(sql: Sql, o: {
  channel: string;
  name: string;
  order?: number;
  color?: string;
}): Promise<Row> {
  requireNotBlank("name", o.name);
  await requireChannel(sql, o.channel);
  const [taken] = await sql`select 1 from public.lead_status where channels_id = ${o.channel} and status = ${o.name}`;
  if (taken) throw new Error(`Channel ${o.channel} already has a status named ${JSON.stringify(o.name)}`);
  const [row] = await sql`
    insert into public.lead_status (channels_id, status, "order", color)
    values (${o.channel}, ${o.name},
      coalesce(${o.order ?? null}::integer,
        (select coalesce(max("order") + 1, 0) from public.lead_status where channels_id = ${o.channel})),
      ${o.color ?? null})
    returning *`;
  return row;
}

/** A channel's lead statuses, in their order. */
export async function listStatuses(sql: Sql, o: { channel: string }): Promise<Row[]> {
  await requireChannel(sql, o.channel);
  return await sql`
    select id, status, "order", visible, color, created_at from public.lead_status
    where channels_id = ${o.channel} order by "order", created_at, id`;
}

/** Adds a property definition to a channel. */
export async function createProperty(sql: Sql, o: {
  channel: string;
  name: string;
  type?: string;
}): Promise<Row> {
  requireNotBlank("name", o.name);
  await requireChannel(sql, o.channel);
  if (o.type !== undefined) requireOneOf("type", o.type, ["text", "number", "select"]);
  const [row] = await sql`
    insert into public.property_definitions (channels_id, name, type, "order")
    values (${o.channel}, ${o.name}, ${o.type ?? "text"},
      (select coalesce(max("order") + 1, 0) from public.property_definitions where channels_id = ${o.channel}))
    returning *`;
  return row;
}

/** A channel's property definitions, in their order. */
export async function listProperties(sql: Sql, o: { channel: string }): Promise<Row[]> {
  await requireChannel(sql, o.channel);
  return await sql`
    select id, name, type, "order", visible, active, created_at from public.property_definitions
    where channels_id = ${o.channel} order by "order", created_at, id`;
}

/** Adds a product to a company's catalog. */
export async function createProduct(sql: Sql, o: {
  company: string;
  name: string;
  description?: string;
}): Promise<Row> {
  requireNotBlank("name", o.name);
  await requireCompany(sql, o.company);
  const [row] = await sql`
    insert into public.products (companies_id, name, description)
    values (${o.company}, ${o.name}, ${o.description ?? null})
    returning *`;
  return row;
}

/** A company's products, oldest first. */
export async function listProducts(sql: Sql, o: { company: string }): Promise<Row[]> {
  await requireCompany(sql, o.company);
  return await sql`
    select id, companies_id, name, description, created_at from public.products
    where companies_id = ${o.company} order by created_at, id`;
}

// What a trigger's --amount may be: a plain decimal of at most 16 digits before the point and 12
// after (what the API takes as money), a percentage at most 100, and a fixed amount no finer
// than the channel currency's minor unit (100.5 JPY would be paid as 101).
function checkTriggerAmount(amount: string, reward: string, currency: string, minorUnits: number): void {
  const got = `got ${JSON.stringify(amount)}`;
  if (!/^\d+(\.\d+)?$/.test(amount)) {
    throw new Error(`--amount must be a non-negative decimal number such as 10 or 12.50, ${got}`);
  }
  const [whole, fraction = ""] = amount.split(".");
  const digits = whole.replace(/^0+(?=\d)/, "");
  if (digits.length > 16) throw new Error(`--amount must have at most 16 digits before the decimal point, ${got}`);
  if (fraction.length > 12) throw new Error(`--amount must have at most 12 digits after the decimal point, ${got}`);
  if (
    reward === "percentage" &&
    (digits.length > 3 || Number(digits) > 100 || (digits === "100" && /[1-9]/.test(fraction)))
  ) {
    throw new Error(`--amount of a percentage trigger must be at most 100, ${got}`);
  }
  if (reward === "fixed" && fraction.replace(/0+$/, "").length > minorUnits) {
    throw new Error(
      `--amount of a fixed trigger must not be finer than ${currency}'s minor unit ` +
        `(${minorUnits} decimal place${minorUnits === 1 ? "" : "s"}), ${got}`,
    );
  }
}

/** Adds a reward trigger to a channel; its amount is printed as an exact JSON number. */
export async function createTrigger(sql: Sql, o: {
  channel: string;
  on: string;
  reward: string;
  amount: string;
  statusId?: string;
  inactive?: boolean;
  name?: string;
}): Promise<Row> {
  requireNotBlank("name", o.name);
  const [channel] = await sql`
    select c.currency, cur.minor_units from public.channels c join public.currencies cur on cur.code = c.currency
    where c.id = ${o.channel}`;
  if (!channel) throw new Error(`No channel with id ${o.channel}`);
  requireOneOf("on", o.on, ["purchase", "new_lead", "status_change"]);
  requireOneOf("reward", o.reward, ["fixed", "percentage"]);
  checkTriggerAmount(o.amount, o.reward, channel.currency, channel.minor_units);
  if ((o.on === "status_change") !== (o.statusId !== undefined)) {
    throw new Error(
      o.statusId === undefined
        ? "--status-id is required with --on status_change"
        : "--status-id goes only with --on status_change",
    );
  }
  if (o.statusId !== undefined) {
    const [status] =
      await sql`select 1 from public.lead_status where id = ${o.statusId} and channels_id = ${o.channel}`;
    if (!status) throw new Error(`No status with id ${o.statusId} on channel ${o.channel}`);
  }
  const [row] = await sql`
    insert into public.reward_triggers (channels_id, name, trigger, lead_status_id, reward_type, amount, status)
    values (${o.channel}, ${o.name ?? null}, ${o.on}, ${o.statusId ?? null}, ${o.reward},
      ${o.amount}::numeric, ${o.inactive ? "Inactive" : "Active"})
    returning *`;
  return withExactAmount(row);
}

/** A channel's reward triggers, oldest first, amounts as exact JSON numbers. */
export async function listTriggers(sql: Sql, o: { channel: string }): Promise<Row[]> {
  await requireChannel(sql, o.channel);
  const rows = await sql`
    select id, name, trigger, lead_status_id, reward_type, amount::text as amount, status, created_at
    from public.reward_triggers where channels_id = ${o.channel} order by created_at, id`;
  return rows.map(withExactAmount);
}

/** Creates a lead on a channel, in the channel's first status. */
export async function createLead(sql: Sql, o: {
  channel: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  companyName?: string;
}): Promise<Row> {
  await requireChannel(sql, o.channel);
  const [row] = await sql`
    insert into public.leads (channels_id, lead_status_id, email, first_name, last_name, company_name)
    values (${o.channel},
      (select id from public.lead_status where channels_id = ${o.channel} order by "order", created_at limit 1),
      ${o.email ?? null}, ${o.firstName ?? null}, ${o.lastName ?? null}, ${o.companyName ?? null})
    returning *`;
  return withLegacyId(row);
}

/** A channel's leads, newest first (at most `limit`, default 50), with their status name. */
export async function listLeads(sql: Sql, o: { channel: string; limit?: number }): Promise<Row[]> {
  await requireChannel(sql, o.channel);
  const rows = await sql`
    select l.id, l.legacy_id, l.created_at, l.email, l.first_name, l.last_name, l.company_name, l.lead_status_id,
      s.status
    from public.leads l left join public.lead_status s on s.id = l.lead_status_id
    where l.channels_id = ${o.channel}
    order by l.created_at desc, l.id desc limit ${o.limit ?? 50}`;
  return rows.map(withLegacyId);
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
  await requireChannel(sql, o.channel);
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

/**
 * Connects a Stripe account to a channel for its receiving company (internal.connect_stripe, the
 * rule of the connect_stripe action): the connection with the endpoint to paste into Stripe, never
 * the signing secret.
 */
export async function connectStripe(
  sql: Sql,
  o: { company: string; channel: string; signingSecret: string },
): Promise<Row> {
  await requireCompany(sql, o.company);
  await requireChannel(sql, o.channel);
  if (!/^whsec_[A-Za-z0-9+/=_-]{1,250}$/.test(o.signingSecret)) {
    throw new Error("--signing-secret must be a Stripe webhook signing secret (whsec_…)");
  }
  const [channel] = await sql`select receiving_id from public.channels where id = ${o.channel}`;
  if (channel.receiving_id !== o.company) throw new Error("The company is not the channel's receiving company");
  const [row] = await sql`
    select internal.connect_stripe(${o.company}, ${o.channel}, ${o.signingSecret}) -> 'connection' as connection`;
  return row.connection as Row;
}

/** Stripe connections, oldest first (with --company, that company's), never their signing secrets. */
export async function listStripeConnections(sql: Sql, o: { company?: string }): Promise<Row[]> {
  const rows = await sql`
    select internal.stripe_connection_json(c) as connection from public.stripe_connections c
    where ${o.company ?? null}::uuid is null or c.companies_id = ${o.company ?? null}::uuid
    order by c.created_at, c.id`;
  return rows.map((r) => r.connection as Row);
}

/** Disconnects a Stripe connection: its endpoint answers 404 Connection not found from then on. */
export async function disconnectStripe(sql: Sql, o: { id: string }): Promise<Row> {
  const [row] = await sql`
    update public.stripe_connections c set disconnected_at = coalesce(c.disconnected_at, now())
    where c.id = ${o.id} returning internal.stripe_connection_json(c) as connection`;
  if (!row) throw new Error(`No Stripe connection with id ${o.id}`);
  return row.connection as Row;
}

/** The unmatched sales from Stripe of a channel, newest first, amounts with every digit. */
export async function listUnmatchedSales(sql: Sql, o: { channel: string; limit?: number }): Promise<Row[]> {
  await requireChannel(sql, o.channel);
  const rows = await sql`
    select internal.unmatched_sale_json(s, c.channels_id)::text as sale from public.stripe_sales s
    join public.stripe_connections c on c.id = s.connections_id
    where c.channels_id = ${o.channel} and s.status = 'unmatched'
    order by s.created_at desc, s.id desc limit ${o.limit ?? 50}`;
  return rows.map((r) => parseExact(r.sale as string) as Row);
}
