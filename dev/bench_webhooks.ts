// The webhook part of `deno task bench --action webhooks [--deliveries 5000] [--batch 50]`:
// queues `deliveries` outbox rows for a receiver on 127.0.0.1 (in this process, answering
// 204), then sweeps until none is due and prints deliveries per second. Every delivery is
// signed and recorded as in production; the receiver only counts.
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import type { Database } from "./database.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createWebhookSweeper } from "../supabase/functions/_shared/webhooks.ts";

/** Runs the sweep benchmark on an open database and prints one JSON line. */
export async function benchWebhooks(database: Database, deliveries: number, batchSize: number): Promise<void> {
  let received = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.arrayBuffer();
    received++;
    return new Response(null, { status: 204 });
  });
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const db = createPostgresDb(database.url, { max: 20 });
  try {
    const company = await ops.createCompany(sql, { name: "Webhook bench" });
    const url = `http://127.0.0.1:${server.addr.port}/hook`;
    const channel = await ops.createChannel(sql, {
      title: "Webhook bench",
      creator: company.id as string,
      referring: company.id as string,
      receiving: company.id as string,
      webhookNewLead: url,
    });
    const lead = await ops.createLead(sql, { channel: channel.id as string, email: "bench@example.com" });
    const [event] = await sql`insert into public.events (category, channels_id, leads_id)
      values ('new_lead', ${channel.id as string}, ${lead.id as string}) returning id`;
    await sql`
      insert into public.webhook_deliveries (channels_id, events_id, type, url, payload)
      select ${channel.id as string}, ${event.id}, 'lead.created', ${url},
        json_build_object('type', 'lead.created', 'id', ${event.id}::text, 'created_at', now(),
          'data', json_build_object('lead', (select o.lead from internal.lead_objects o where o.id = ${lead
      .id as string}), 'status', 'New'))
      from generate_series(1, ${deliveries})`;
    const sweeper = createWebhookSweeper({ db, allowPrivateUrls: true, batchSize });
    const started = performance.now();
    let delivered = 0;
    for (;;) {
      const result = await sweeper.sweep({ maxRounds: 1000 });
      delivered += result.delivered;
      if (result.claimed === 0) break;
    }
    const elapsed = (performance.now() - started) / 1000;
    console.log(JSON.stringify({
      scenario: "webhook sweep",
      database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
      batch_size: batchSize,
      delivered,
      received,
      seconds: Number(elapsed.toFixed(2)),
      deliveries_per_second: Math.round(delivered / elapsed),
    }));
  } finally {
    await db.close();
    await sql.end();
    await server.shutdown();
  }
}
