// The direct adapter's pool (supabase/functions/_shared/lanes.ts): a call takes the connection
// released last, so one client's calls stay on one warm backend; a lane connects on its first
// call; when every lane is busy, a call goes to the lane with the fewest calls in flight.
import assert from "node:assert/strict";
import postgres from "postgres";
import { DATABASE_URL } from "./helpers.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { Lanes } from "../supabase/functions/_shared/lanes.ts";

Deno.test("after a burst of calls, one client's calls in a row all run on the same connection", async () => {
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  // A function that answers the backend it ran on, after sleeping: the adapter calls public.<fn>.
  await admin`create function public.lanes_probe(sleep_ms integer) returns json language sql
    as $$ select json_build_object('pid', pg_backend_pid()) from pg_sleep(sleep_ms / 1000.0) $$`;
  const db = createPostgresDb(DATABASE_URL, { max: 4, deadlineMs: 10_000 });
  const pid = async (sleepMs: number) => JSON.parse(await db.rpc("lanes_probe", { sleep_ms: sleepMs })).pid as number;
  try {
    const burst = await Promise.all(Array.from({ length: 4 }, () => pid(200)));
    assert.equal(new Set(burst).size, 4, `four calls at once ran on ${new Set(burst).size} connections`);
    const inARow: number[] = [];
    for (let i = 0; i < 8; i++) inARow.push(await pid(0));
    assert.equal(new Set(inARow).size, 1, `eight calls in a row ran on backends ${inARow.join(", ")}`);
    assert.ok(burst.includes(inARow[0]));
  } finally {
    await db.close();
    await admin`drop function public.lanes_probe(integer)`;
    await admin.end();
  }
});

Deno.test("a lane connects on its first call: calls one after another hold one connection", async () => {
  const name = `lanes_test_${crypto.randomUUID().slice(0, 8)}`;
  const lanes = new Lanes(
    4,
    () => postgres(DATABASE_URL, { max: 1, connection: { application_name: name }, onnotice: () => {} }),
  );
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  const connections = async () =>
    (await admin`select count(*)::int as n from pg_stat_activity where application_name = ${name}`)[0].n;
  const run = async (sleep: number) => {
    const lane = lanes.take();
    try {
      await lane.sql`select pg_sleep(${sleep})`;
    } finally {
      lanes.release(lane);
    }
  };
  try {
    assert.equal(await connections(), 0);
    for (let i = 0; i < 5; i++) await run(0);
    assert.equal(await connections(), 1);
    await Promise.all([run(0.1), run(0.1), run(0.1)]);
    assert.equal(await connections(), 3);
  } finally {
    await lanes.end({ timeout: 5 });
    await admin.end();
  }
});

Deno.test("when every lane is busy, a call takes the lane with the fewest calls in flight", async () => {
  // Lanes that never connect: this test only takes and releases.
  const lanes = new Lanes(2, () => postgres(DATABASE_URL, { max: 1, onnotice: () => {} }));
  try {
    const first = lanes.take();
    const second = lanes.take();
    assert.notEqual(first, second);
    const third = lanes.take();
    const fourth = lanes.take();
    assert.notEqual(third, fourth);
    assert.deepEqual([first.calls, second.calls], [2, 2]);
    lanes.release(second);
    assert.equal(lanes.take(), second, "a busy lane with fewer calls is preferred");
    lanes.release(first);
    lanes.release(first);
    assert.equal(first.calls, 0);
    assert.equal(lanes.take(), first, "an idle lane is preferred to a busy one");
  } finally {
    await lanes.end({ timeout: 0 });
  }
});
