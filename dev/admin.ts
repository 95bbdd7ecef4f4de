// `deno task admin <resource> <verb> [--flags]`: the operator's CLI, on the same database
// choice as `deno task start`. Prints one JSON object on stdout; errors go to stderr with
// exit code 1.
import { parseArgs } from "node:util";
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import { type Database, openDatabase } from "./database.ts";

type Flags = Record<string, string | boolean | undefined>;

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
  };
}

type Run = (sql: postgres.Sql, f: Flags, database: Database) => Promise<unknown>;

const COMMANDS: Record<string, { usage: string; run: Run }> = {
  "db migrate": {
    usage: "   (applies pending migrations, as every command does first, and lists them)",
    run: (_sql, _f, database) => Promise.resolve({ applied: database.applied }),
  },
  "company create": {
    usage: "--name NAME",
    run: (sql, f) => ops.createCompany(sql, { name: required(f, "name") }),
  },
  "key create": {
    usage: "--company ID [--name NAME]   (prints api_key once)",
    run: (sql, f) => ops.createKey(sql, { company: required(f, "company"), name: optional(f, "name") }),
  },
  "key revoke": {
    usage: "--id KEY_ID",
    run: (sql, f) => ops.revokeKey(sql, { id: required(f, "id") }),
  },
  "channel create": {
    usage:
      "--title T --creator ID --referring ID --receiving ID [--partner ID] [--currency USD] [--public] [--webhook-new-lead URL] [--webhook-status-update URL] [--purchase-writers receiving|any] [--hold-days N] [--intake-per-minute N]",
    run: (sql, f) =>
      ops.createChannel(sql, {
        title: required(f, "title"),
        creator: required(f, "creator"),
        referring: required(f, "referring"),
        receiving: required(f, "receiving"),
        partner: optional(f, "partner"),
        currency: optional(f, "currency"),
        public: f.public === true,
        webhookNewLead: optional(f, "webhook-new-lead"),
        webhookStatusUpdate: optional(f, "webhook-status-update"),
        ...channelSettings(f),
      }),
  },
  "channel update": {
    usage:
      "--id CHANNEL_ID [--purchase-writers receiving|any] [--hold-days N] [--intake-per-minute N] [--webhook-new-lead URL] [--webhook-status-update URL]",
    run: (sql, f) =>
      ops.updateChannel(sql, {
        id: required(f, "id"),
        webhookNewLead: optional(f, "webhook-new-lead"),
        webhookStatusUpdate: optional(f, "webhook-status-update"),
        ...channelSettings(f),
      }),
  },
  "payout list": {
    usage: "--channel ID [--csv]   (every payout, newest first; --csv: RFC 4180 CSV for a mass payment tool)",
    run: async (sql, f) => {
      const payouts = await ops.listPayouts(sql, { channel: required(f, "channel") });
      return f.csv === true ? new Csv(ops.payoutsCsv(payouts)) : { payouts };
    },
  },
  "channel rotate-secret": {
    usage: "--id CHANNEL_ID   (prints the new webhook_secret once)",
    run: (sql, f) => ops.rotateWebhookSecret(sql, { id: required(f, "id") }),
  },
  "webhook list": {
    usage: "--channel ID [--limit N]   (deliveries with their attempts, newest first)",
    run: (sql, f) => ops.listDeliveries(sql, { channel: required(f, "channel"), limit: integer(f, "limit") }),
  },
  "webhook redeliver": {
    usage: "--id DELIVERY_ID   (queues it for an immediate attempt)",
    run: (sql, f) => ops.redeliver(sql, { id: required(f, "id") }),
  },
  "status create": {
    usage: "--channel ID --name NAME [--order N] [--color HEX]",
    run: (sql, f) =>
      ops.createStatus(sql, {
        channel: required(f, "channel"),
        name: required(f, "name"),
        order: integer(f, "order"),
        color: optional(f, "color"),
      }),
  },
  "property create": {
    usage: "--channel ID --name NAME [--type text|number|select]",
    run: (sql, f) =>
      ops.createProperty(sql, {
        channel: required(f, "channel"),
        name: required(f, "name"),
        type: optional(f, "type"),
      }),
  },
  "product create": {
    usage: "--company ID --name NAME [--description TEXT]",
    run: (sql, f) =>
      ops.createProduct(sql, {
        company: required(f, "company"),
        name: required(f, "name"),
        description: optional(f, "description"),
      }),
  },
  "trigger create": {
    usage:
      "--channel ID --on purchase|new_lead|status_change [--status-id ID] --reward fixed|percentage --amount N [--inactive] [--name NAME]",
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
  "lead create": {
    usage: "--channel ID [--email E] [--first-name F] [--last-name L] [--company-name C]",
    run: (sql, f) =>
      ops.createLead(sql, {
        channel: required(f, "channel"),
        email: optional(f, "email"),
        firstName: optional(f, "first-name"),
        lastName: optional(f, "last-name"),
        companyName: optional(f, "company-name"),
      }),
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
];

function usage(): string {
  return "usage: deno task admin <resource> <verb> [--flags]\n" +
    Object.entries(COMMANDS).map(([name, c]) => `  ${name} ${c.usage}`).join("\n");
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
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage()}`);
    return 2;
  }
  const command = COMMANDS[parsed.positionals.join(" ")];
  if (!command) {
    console.error(usage());
    return 2;
  }
  const database = await openDatabase();
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const result = await command.run(sql, parsed.values, database);
    if (result instanceof Csv) await Deno.stdout.write(new TextEncoder().encode(result.text));
    else console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    await sql.end();
    await database.stop();
  }
}

Deno.exit(await main());
