// `deno task admin <resource> <verb> [--flags]`: the operator's CLI, on the same database
// choice as `deno task start`. Prints one JSON object on stdout; errors go to stderr with
// exit code 1 (2 for a usage error). `--help` at every level prints what it can do, on stdout.
import { parseArgs } from "node:util";
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import { type Database, openDatabase } from "./database.ts";

type Flags = Record<string, string | boolean | undefined>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Flags that name a row by id: checked to be UUIDs before the database is opened.
const ID_FLAGS = ["id", "company", "creator", "referring", "receiving", "partner", "channel", "status-id"];

function required(flags: Flags, name: string): string {
  const value = flags[name];
  if (typeof value !== "string" || value === "") throw new Error(`--${name} is required`);
  return value;
}

function optional(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
}

function integer(flags: Flags, name: string): number | undefined {
  const value = optional(flags, name);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new Error(`--${name} must be an integer`);
  return Number(value);
}

// What `payout list --csv` prints as is, instead of one JSON object.
class Csv {
  constructor(readonly text: string) {}
}

function channelSettings(f: Flags) {
  return {
    purchaseWriters: optional(f, "purchase-writers"),
    holdDays: integer(f, "hold-days"),
    intakePerMinute: integer(f, "intake-per-minute"),
    webhookNewLead: optional(f, "webhook-new-lead"),
    webhookStatusUpdate: optional(f, "webhook-status-update"),
    webhookMoney: optional(f, "webhook-money"),
  };
}

type Run = (sql: postgres.Sql, f: Flags, database: Database) => Promise<unknown>;

/** One command: its flags, what it does, and how. */
interface Command {
  flags: string;
  about: string;
  run: Run;
}

const COMMANDS: Record<string, Command> = {
  "db migrate": {
    flags: "",
    about: "Applies pending migrations (every command does this first) and lists them.",
    run: (_sql, _f, database) => Promise.resolve({ applied: database.applied }),
  },
  "company create": {
    flags: "--name NAME",
    about: "Creates a company.",
    run: (sql, f) => ops.createCompany(sql, { name: required(f, "name") }),
  },
  "company list": {
    flags: "",
    about: "Every company, oldest first.",
    run: async (sql) => ({ companies: await ops.listCompanies(sql) }),
  },
  "key create": {
    flags: "--company ID [--name NAME]",
    about: "Creates an API key for a company; prints api_key once (only its SHA-256 is stored).",
    run: (sql, f) => ops.createKey(sql, { company: required(f, "company"), name: optional(f, "name") }),
  },
  "key list": {
    flags: "--company ID",
    about: "A company's keys: id, name, prefix, created_at, revoked_at (never the key).",
    run: async (sql, f) => ({ keys: await ops.listKeys(sql, { company: required(f, "company") }) }),
  },
  "key revoke": {
    flags: "--id KEY_ID",
    about: "Revokes a key: it answers 401 from then on.",
    run: (sql, f) => ops.revokeKey(sql, { id: required(f, "id") }),
  },
  "channel create": {
    flags: "--title T --creator ID --referring ID --receiving ID [--partner ID] [--currency USD] [--public] " +
      "[--webhook-new-lead URL] [--webhook-status-update URL] [--webhook-money URL] " +
      "[--purchase-writers receiving|any] [--hold-days N] " +
      "[--intake-per-minute N]",
    about: "Creates a channel between companies; prints its webhook_secret once. --public allows lead_external. " +
      "Defaults: USD, purchase writers receiving, hold 30 days, 10 public leads per address and minute.",
    run: (sql, f) =>
      ops.createChannel(sql, {
        title: required(f, "title"),
        creator: required(f, "creator"),
        referring: required(f, "referring"),
        receiving: required(f, "receiving"),
        partner: optional(f, "partner"),
        currency: optional(f, "currency"),
        public: f.public === true,
        ...channelSettings(f),
      }),
  },
  "channel list": {
    flags: "[--company ID]",
    about: "Channels with their settings (never the webhook secret); with --company, those it takes part in.",
    run: async (sql, f) => ({ channels: await ops.listChannels(sql, { company: optional(f, "company") }) }),
  },
  "channel update": {
    flags: "--id CHANNEL_ID [--purchase-writers receiving|any] [--hold-days N] [--intake-per-minute N] " +
      '[--webhook-new-lead URL|""] [--webhook-status-update URL|""] [--webhook-money URL|""]',
    about: 'Changes a channel\'s settings; flags not given keep their value, a webhook URL of "" clears it.',
    run: (sql, f) => ops.updateChannel(sql, { id: required(f, "id"), ...channelSettings(f) }),
  },
  "channel rotate-secret": {
    flags: "--id CHANNEL_ID",
    about: "Replaces the channel's webhook signing secret; prints the new one once.",
    run: (sql, f) => ops.rotateWebhookSecret(sql, { id: required(f, "id") }),
  },
  "status create": {
    flags: "--channel ID --name NAME [--order N] [--color HEX]",
    about: "Adds a lead status to a channel (default order: after the last one).",
    run: (sql, f) =>
      ops.createStatus(sql, {
        channel: required(f, "channel"),
        name: required(f, "name"),
        order: integer(f, "order"),
        color: optional(f, "color"),
      }),
  },
  "status list": {
    flags: "--channel ID",
    about: "A channel's lead statuses, in their order.",
    run: async (sql, f) => ({ statuses: await ops.listStatuses(sql, { channel: required(f, "channel") }) }),
  },
  "property create": {
    flags: "--channel ID --name NAME [--type text|number|select]",
    about: "Adds a lead property definition to a channel.",
    run: (sql, f) =>
      ops.createProperty(sql, {
        channel: required(f, "channel"),
        name: required(f, "name"),
        type: optional(f, "type"),
      }),
  },
  "property list": {
    flags: "--channel ID",
    about: "A channel's property definitions, in their order.",
    run: async (sql, f) => ({ properties: await ops.listProperties(sql, { channel: required(f, "channel") }) }),
  },
  "product create": {
    flags: "--company ID --name NAME [--description TEXT]",
    about: "Adds a product to a company's catalog.",
    run: (sql, f) =>
      ops.createProduct(sql, {
        company: required(f, "company"),
        name: required(f, "name"),
        description: optional(f, "description"),
      }),
  },
  "product list": {
    flags: "--company ID",
    about: "A company's products, oldest first.",
    run: async (sql, f) => ({ products: await ops.listProducts(sql, { company: required(f, "company") }) }),
  },
  "trigger create": {
    flags: "--channel ID --on purchase|new_lead|status_change [--status-id ID] --reward fixed|percentage " +
      "--amount N [--inactive] [--name NAME]",
    about: "Adds a reward trigger; --status-id (a status of the channel) goes with --on status_change. " +
      "A percentage is at most 100; a fixed amount is no finer than the channel currency's minor unit. " +
      "The amount is printed as a JSON number with every digit.",
    run: (sql, f) =>
      ops.createTrigger(sql, {
        channel: required(f, "channel"),
        on: required(f, "on"),
        statusId: optional(f, "status-id"),
        reward: required(f, "reward"),
        amount: required(f, "amount"),
        inactive: f.inactive === true,
        name: optional(f, "name"),
      }),
  },
  "trigger list": {
    flags: "--channel ID",
    about: "A channel's reward triggers, oldest first, amounts as JSON numbers with every digit.",
    run: async (sql, f) => ({ triggers: await ops.listTriggers(sql, { channel: required(f, "channel") }) }),
  },
  "lead create": {
    flags: "--channel ID [--email E] [--first-name F] [--last-name L] [--company-name C]",
    about: "Creates a lead in the channel's first status (no event, reward or webhook: use the API for those).",
    run: (sql, f) =>
      ops.createLead(sql, {
        channel: required(f, "channel"),
        email: optional(f, "email"),
        firstName: optional(f, "first-name"),
        lastName: optional(f, "last-name"),
        companyName: optional(f, "company-name"),
      }),
  },
  "lead list": {
    flags: "--channel ID [--limit N]",
    about: "A channel's leads, newest first (default 50).",
    run: async (sql, f) => ({
      leads: await ops.listLeads(sql, { channel: required(f, "channel"), limit: integer(f, "limit") }),
    }),
  },
  "payout list": {
    flags: "--channel ID [--csv]",
    about: "Every payout of a channel, newest first, amounts as JSON numbers with every digit; --csv prints " +
      "RFC 4180 CSV (CRLF line ends, header row, text cells that could run as a spreadsheet formula prefixed " +
      "with ') for a mass payment tool.",
    run: async (sql, f) => {
      const payouts = await ops.listPayouts(sql, { channel: required(f, "channel") });
      return f.csv === true ? new Csv(ops.payoutsCsv(payouts)) : { payouts: payouts.map(ops.withExactAmount) };
    },
  },
  "stripe connect": {
    flags: "--company ID --channel ID --signing-secret whsec_…",
    about: "Connects a Stripe account to a channel of which the company is the receiving company; prints the " +
      "endpoint to paste into Stripe's webhook settings (the signing secret is stored, never printed).",
    run: async (sql, f) => ({
      connection: await ops.connectStripe(sql, {
        company: required(f, "company"),
        channel: required(f, "channel"),
        signingSecret: required(f, "signing-secret"),
      }),
    }),
  },
  "stripe list": {
    flags: "[--company ID]",
    about: "Stripe connections with their endpoints (never the signing secret); with --company, that company's.",
    run: async (sql, f) => ({ connections: await ops.listStripeConnections(sql, { company: optional(f, "company") }) }),
  },
  "stripe disconnect": {
    flags: "--id CONNECTION_ID",
    about: "Disconnects a Stripe connection: its endpoint answers 404 Connection not found from then on.",
    run: async (sql, f) => ({ connection: await ops.disconnectStripe(sql, { id: required(f, "id") }) }),
  },
  "stripe unmatched": {
    flags: "--channel ID [--limit N]",
    about: "A channel's sales from Stripe waiting for a lead (attach_sale / dismiss_sale), newest first (default 50).",
    run: async (sql, f) => ({
      unmatched_sales: await ops.listUnmatchedSales(sql, {
        channel: required(f, "channel"),
        limit: integer(f, "limit"),
      }),
    }),
  },
  "webhook list": {
    flags: "--channel ID [--limit N]",
    about: "A channel's webhook deliveries with their attempts, newest first (default 50).",
    run: (sql, f) => ops.listDeliveries(sql, { channel: required(f, "channel"), limit: integer(f, "limit") }),
  },
  "webhook redeliver": {
    flags: "--id DELIVERY_ID",
    about: "Queues a delivery for an immediate attempt, whatever its status (same Webhook-Id).",
    run: (sql, f) => ops.redeliver(sql, { id: required(f, "id") }),
  },
};

const STRING_FLAGS = [
  "name",
  "company",
  "id",
  "title",
  "creator",
  "referring",
  "receiving",
  "partner",
  "currency",
  "webhook-new-lead",
  "webhook-status-update",
  "webhook-money",
  "channel",
  "order",
  "color",
  "type",
  "description",
  "on",
  "status-id",
  "reward",
  "amount",
  "email",
  "first-name",
  "last-name",
  "company-name",
  "limit",
  "purchase-writers",
  "hold-days",
  "intake-per-minute",
  "signing-secret",
];

const RESOURCES = [...new Set(Object.keys(COMMANDS).map((name) => name.split(" ")[0]))];

function verbsOf(resource: string): string[] {
  return Object.keys(COMMANDS).filter((name) => name.split(" ")[0] === resource).map((name) => name.split(" ")[1]);
}

function usage(): string {
  return [
    "usage: deno task admin <resource> <verb> [--flags]",
    "       deno task admin <resource> --help      that resource's verbs and their flags",
    "",
    "The operator's tool, on the same database as `deno task start`: DATABASE_URL, else the embedded",
    "PostgreSQL under DATA_DIR (default .data). Prints one JSON object on stdout (payout list --csv: CSV);",
    "ids and timestamps are strings, counts numbers, money amounts JSON numbers with every digit (a float",
    "reader such as jq 1.6 may round them). Errors go to stderr with exit code 1, usage errors with 2.",
    "",
    "resources and verbs:",
    ...RESOURCES.map((resource) => `  ${resource.padEnd(9)} ${verbsOf(resource).join(", ")}`),
  ].join("\n");
}

function commandHelp(name: string): string {
  const { flags, about } = COMMANDS[name];
  return `  ${name}${flags ? ` ${flags}` : ""}\n      ${about}`;
}

function resourceHelp(resource: string): string {
  return [
    `usage: deno task admin ${resource} <verb> [--flags]`,
    "",
    ...verbsOf(resource).map((verb) => commandHelp(`${resource} ${verb}`)),
  ].join("\n");
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((name) => [name, { type: "string" as const }])),
        public: { type: "boolean" },
        inactive: { type: "boolean" },
        csv: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage()}`);
    return 2;
  }
  const [resource, verb, ...extra] = parsed.positionals;
  const name = `${resource} ${verb}`;
  if (parsed.values.help) {
    if (resource === undefined) console.log(usage());
    else if (verb === undefined && RESOURCES.includes(resource)) console.log(resourceHelp(resource));
    else if (COMMANDS[name] && extra.length === 0) console.log(`usage: deno task admin\n${commandHelp(name)}`);
    else {
      console.error(usage());
      return 2;
    }
    return 0;
  }
  const command = extra.length === 0 ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(resource !== undefined && RESOURCES.includes(resource) ? resourceHelp(resource) : usage());
    return 2;
  }
  const flags: Flags = parsed.values;
  for (const flag of ID_FLAGS) {
    const value = flags[flag];
    if (typeof value === "string" && value !== "" && !UUID.test(value)) {
      console.error(`error: --${flag} must be a UUID, got ${JSON.stringify(value)}`);
      return 1;
    }
  }
  const database = await openDatabase();
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const result = await command.run(sql, flags, database);
    if (result instanceof Csv) await Deno.stdout.write(new TextEncoder().encode(result.text));
    else console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (error) {
    // The checks in admin_ops give operator messages; anything else the database refused says so.
    const e = error as Error & { code?: string };
    console.error(
      e instanceof postgres.PostgresError ? `error: the database refused this: ${e.message}` : `error: ${e.message}`,
    );
    return 1;
  } finally {
    await sql.end();
    await database.stop();
  }
}

Deno.exit(await main());
