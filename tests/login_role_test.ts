// Supavisor drops startup parameters, so behind Supabase's pooler the statement timeout must sit
// on the login role (docs/operations.md, deploy step 3). This runs that SQL block, as written
// in the document, on the test database, then checks that a connection of that role that sends
// no startup parameter has the timeout, and that the role may call the API (EXECUTE through its
// membership in service_role).
import assert from "node:assert/strict";
import postgres from "postgres";
import { call, DATABASE_URL, testEnv, world } from "./helpers.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler } from "../supabase/functions/_shared/handler.ts";

const operations = await Deno.readTextFile(new URL("../docs/operations.md", import.meta.url));
const block = [...operations.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1])
  .find((sql) => sql.includes("create role openapi_operations"));

Deno.test("the login role of the deploy steps carries the statement timeout and may call the API", async () => {
  assert.ok(block, "docs/operations.md has no sql block creating openapi_operations");
  const env = testEnv();
  const { sql } = env;
  const password = crypto.randomUUID();
  const url = new URL(DATABASE_URL);
  url.username = "openapi_operations";
  url.password = password;
  await sql`drop role if exists openapi_operations`;
  await sql.unsafe(block.replace("<a strong password>", password)).simple();
  // No startup parameter: what a connection through Supavisor gets.
  const plain = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const db = createPostgresDb(url.toString(), { deadlineMs: 10_000 });
  try {
    const [{ statement_timeout }] = await plain`show statement_timeout`;
    assert.equal(statement_timeout, "1200ms");
    const w = await world(sql);
    const reply = await call(createHandler({ db }), { action: "get_channels" }, { key: w.receiving.key });
    assert.equal(reply.status, 200, reply.text);
    assert.equal((reply.body.channels as unknown[]).length, 1);
  } finally {
    await plain.end();
    await db.close();
    await sql`drop role openapi_operations`;
    await env.close();
  }
});
