// The demo of `deno task start` on the embedded database: two partner companies, a channel
// with statuses, a property, a lead, a product and reward triggers, and a second channel whose
// rewards show the money-out lifecycle (one paid, one approved, one pending), created once in
// one transaction. Its API keys are kept in DATA_DIR/demo.json (local use only) so every start
// can print them.
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import { hashApiKey } from "../supabase/functions/_shared/api_key.ts";

/** What the start command needs to print a ready-to-paste request. */
export interface Demo {
  receiving_api_key: string;
  referring_api_key: string;
  channel_id: string;
  lead_id: string;
  product_id: string;
  /** The channel whose rewards are paid, approved and pending. */
  payouts_channel_id: string;
}

// The lifecycle channel: one fixed 25 USD reward per sale, three sales recorded through the
// API's own SQL functions as the merchant: the first reward approved, paid out and marked
// paid, the second approved, the third still in its 30-day hold.
async function lifecycleChannel(tx: postgres.TransactionSql, referrer: string, receiver: string, key: string) {
  const channel = await ops.createChannel(tx, {
    title: "Acme × Globex payouts",
    creator: receiver,
    referring: referrer,
    receiving: receiver,
    currency: "USD",
  });
  const channelId = channel.id as string;
  await ops.createStatus(tx, { channel: channelId, name: "New" });
  await ops.createTrigger(tx, { channel: channelId, on: "purchase", reward: "fixed", amount: "25", name: "Per sale" });
  const keyHash = hashApiKey(key);
  const rewardIds: string[] = [];
  for (const [name, amount] of [["Hooli", "1200"], ["Umbrella", "800"], ["Stark", "450"]]) {
    const lead = await ops.createLead(tx, { channel: channelId, companyName: name });
    const [{ result }] = await tx`select public.create_purchase(${keyHash}, ${
      tx.json({ lead_id: lead.id as string, purchase_amount: amount })
    })::jsonb as result`;
    rewardIds.push(result.reward_events[0].id);
  }
  await tx`select public.approve_rewards(${keyHash}, ${
    tx.json({ channel_id: channelId, reward_event_ids: [rewardIds[0]] })
  })`;
  const [{ payout }] = await tx`select public.create_payout(${keyHash}, ${
    tx.json({ channel_id: channelId })
  })::jsonb -> 'payout' as payout`;
  await tx`select public.mark_payout_paid(${keyHash}, ${tx.json({ payout_id: payout.id, reference: "DEMO-WIRE-1" })})`;
  await tx`select public.approve_rewards(${keyHash}, ${
    tx.json({ channel_id: channelId, reward_event_ids: [rewardIds[1]] })
  })`;
  return channelId;
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
    const payoutsChannelId = await lifecycleChannel(
      tx,
      referrer.id as string,
      receiver.id as string,
      receivingKey.api_key as string,
    );
    return {
      receiving_api_key: receivingKey.api_key as string,
      referring_api_key: referringKey.api_key as string,
      channel_id: channelId,
      lead_id: lead.id as string,
      product_id: product.id as string,
      payouts_channel_id: payoutsChannelId,
    };
  });
}

/** Returns the demo recorded in `file` if its lead still exists, else creates one and records it. */
export async function ensureDemo(url: string, file: string): Promise<Demo> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const saved = await Deno.readTextFile(file).then((text) => JSON.parse(text) as Demo, () => null);
    if (saved?.payouts_channel_id) {
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
