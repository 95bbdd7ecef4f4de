// How the direct adapter connects on hosted Supabase (db_options.ts): TLS on Supabase's hosts
// unless the URL's sslmode says otherwise, and a small pool whose idle connections close under
// the Edge Runtime, where every isolate holds its own pool against the pooler's client limit.
import assert from "node:assert/strict";
import postgres from "postgres";
import { DATABASE_URL } from "./helpers.ts";
import { isEdgeRuntime, poolDefaults, sslFor } from "../supabase/functions/_shared/db_options.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";

Deno.test("Supabase's hosts get TLS unless the URL sets sslmode; other hosts keep postgres.js's default", () => {
  const cases: [string, "require" | undefined][] = [
    ["postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres", "require"],
    ["postgres://postgres.ref:pw@aws-1-us-east-1.pooler.supabase.com:5432/postgres", "require"],
    ["postgres://postgres:pw@db.abcdefghijklmnop.supabase.co:5432/postgres", "require"],
    ["postgres://postgres.ref:pw@AWS-0-EU-CENTRAL-1.POOLER.SUPABASE.COM:6543/postgres", "require"],
    // The URL decides: postgres.js reads sslmode (and ssl) from it.
    ["postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=disable", undefined],
    ["postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=verify-full", undefined],
    ["postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?ssl=false", undefined],
    ["postgres://postgres:postgres@127.0.0.1:54322/postgres", undefined],
    ["postgres://u:p@db.example.com/postgres", undefined],
    ["postgres://u:p@pooler.supabase.com.example.net/postgres", undefined],
  ];
  for (const [url, ssl] of cases) assert.equal(sslFor(url), ssl, url);
});

Deno.test("the pool is 2 connections closed after 10 s idle under the Edge Runtime, 5 kept open elsewhere", () => {
  assert.deepEqual(poolDefaults(true), { max: 2, idleTimeoutSeconds: 10 });
  assert.deepEqual(poolDefaults(false), { max: 5, idleTimeoutSeconds: 0 });
  assert.equal(isEdgeRuntime(), false);
});

Deno.test("with an idle timeout, an idle connection is closed and the next call reconnects", async () => {
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin`create function public.idle_probe() returns json language sql
    as $$ select json_build_object('pid', pg_backend_pid()) $$`;
  const db = createPostgresDb(DATABASE_URL, { max: 1, idleTimeoutSeconds: 1, deadlineMs: 10_000 });
  const pid = async () => JSON.parse(await db.rpc("idle_probe", {})).pid as number;
  const open = async (p: number) =>
    (await admin`select count(*)::int as n from pg_stat_activity where pid = ${p}`)[0].n;
  try {
    const first = await pid();
    assert.equal(await open(first), 1);
    // Polled with a bound, not timed: the backend leaves pg_stat_activity once the client closed it.
    for (let i = 0; i < 100 && await open(first) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await open(first), 0, `backend ${first} still open after 10 s with a 1 s idle timeout`);
    const second = await pid();
    assert.notEqual(second, first);
  } finally {
    await db.close();
    await admin`drop function public.idle_probe()`;
    await admin.end();
  }
});
