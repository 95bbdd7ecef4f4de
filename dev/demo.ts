// The demo of `deno task start` on the embedded database: two partner companies, a channel
// with statuses, a property, a lead, a product and reward triggers, created once in one
// transaction. Its API keys are kept in DATA_DIR/demo.json (local use only) so every start
// can print a working curl.
import postgres from "postgres";
import * as ops from "./admin_ops.ts";

/** What the start command needs to print a ready-to-paste request. */
export interface Demo {
  receiving_api_key: string;
  referring_api_key: string;
  channel_id: string;
  lead_id: string;
  product_id: string;
}

async function createDemo(sql: postgres.Sql): Promise<Demo> {
  return await sql.begin(async (tx) => {
    const referrer = await ops.createCompany(tx, { name: "Acme Referrals" });
    const receiver = await ops.createCompany(tx, { name: "Globex Software" });
    const channel = await ops.createChannel(tx, {
      title: "Acme × Globex",
      creator: receiver.id as string,
      referring: referrer.id as string,
      receiving: receiver.id as string,
      currency: "USD",
      public: true,
    });
    const channelId = channel.id as string;
    await ops.createStatus(tx, { channel: channelId, name: "New", color: "#9ca3af" });
    await ops.createStatus(tx, { channel: channelId, name: "Qualified", color: "#3b82f6" });
    const won = await ops.createStatus(tx, { channel: channelId, name: "Won", color: "#22c55e" });
    await ops.createProperty(tx, { channel: channelId, name: "Budget", type: "number" });
    const lead = await ops.createLead(tx, {
      channel: channelId,
      email: "jane@initech.example",
      firstName: "Jane",
      lastName: "Doe",
      companyName: "Initech",
    });
    const product = await ops.createProduct(tx, {
      company: receiver.id as string,
      name: "Annual subscription",
      description: "Globex Cloud, billed yearly",
    });
    await ops.createTrigger(tx, {
      channel: channelId,
      on: "purchase",
      reward: "percentage",
      amount: "10",
      name: "10% of every sale",
    });
    await ops.createTrigger(tx, {
      channel: channelId,
      on: "purchase",
      reward: "fixed",
      amount: "100",
      name: "Bonus per sale",
    });
    await ops.createTrigger(tx, { channel: channelId, on: "new_lead", reward: "fixed", amount: "5", name: "Per lead" });
    await ops.createTrigger(tx, {
      channel: channelId,
      on: "status_change",
      statusId: won.id as string,
      reward: "fixed",
      amount: "50",
      name: "Deal won",
    });
    const receivingKey = await ops.createKey(tx, { company: receiver.id as string, name: "demo" });
    const referringKey = await ops.createKey(tx, { company: referrer.id as string, name: "demo" });
    return {
      receiving_api_key: receivingKey.api_key as string,
      referring_api_key: referringKey.api_key as string,
      channel_id: channelId,
      lead_id: lead.id as string,
      product_id: product.id as string,
    };
  });
}

/** Returns the demo recorded in `file` if its lead still exists, else creates one and records it. */
export async function ensureDemo(url: string, file: string): Promise<Demo> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const saved = await Deno.readTextFile(file).then((text) => JSON.parse(text) as Demo, () => null);
    if (saved) {
      const [row] = await sql`select 1 from public.leads where id = ${saved.lead_id}`;
      if (row) return saved;
    }
    const demo = await createDemo(sql);
    await Deno.writeTextFile(file, JSON.stringify(demo, null, 2) + "\n", { mode: 0o600 });
    return demo;
  } finally {
    await sql.end();
  }
}
