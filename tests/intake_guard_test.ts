// docs/guide.md, "The intake guard": the public intake guard counts clients, not text: through the real handler and
// database, the canonical address (tests/client_address_test.ts covers the pure function),
// IPv6 per /64, one unknown client for what is not an address, TRUSTED_PROXY_HOPS=0, the warning
// when counting falls back to an unspecified connection address, and intake_log kept bounded.
import assert from "node:assert/strict";
import { call, DATABASE_URL, errorBody, type Reply, statusAndBody, type TestEnv, testEnv, world } from "./helpers.ts";
import { createApp } from "../supabase/functions/_shared/app.ts";
import { type ConnectionInfo, createHandler } from "../supabase/functions/_shared/handler.ts";

type Handler = (req: Request, info?: ConnectionInfo) => Promise<Response>;

// A public channel with the given limit.
async function openChannel(env: TestEnv, perMinute: number): Promise<string> {
  const w = await world(env.sql);
  await env.sql`update public.channels set no_auth_api = true, intake_per_minute = ${perMinute}
    where id = ${w.channelId}`;
  return w.channelId;
}

// lead_external on the channel, as if a trusted proxy sent `forwardedFor` (none: no header) over a
// connection from `remote` (none: no connection info).
function intake(
  handler: Handler,
  channelId: string,
  forwardedFor: string | null,
  remote?: string,
): Promise<Reply> {
  const info = remote === undefined ? undefined : { remoteAddr: { hostname: remote } };
  return call((req) => handler(req, info), {
    action: "lead_external",
    channel_id: channelId,
    email: "web@form.example",
  }, {
    headers: forwardedFor === null ? {} : { "X-Forwarded-For": forwardedFor },
  });
}

// The intake_log rows of a channel: client and count, by client.
async function logged(env: TestEnv, channelId: string): Promise<{ client: string; n: number }[]> {
  return [
    ...await env.sql`select client, count(*)::int as n from public.intake_log where channels_id = ${channelId}
      group by client order by client`,
  ] as { client: string; n: number }[];
}

async function leadCount(env: TestEnv, channelId: string): Promise<number> {
  const [row] = await env.sql`select count(*)::int as n from public.leads where channels_id = ${channelId}`;
  return row.n;
}

// An admitted intake answers the lead it wrote.
async function assertAdmitted(env: TestEnv, reply: Reply, channelId: string) {
  assert.equal(reply.status, 200, reply.text);
  const lead = reply.body.lead as { id: string; channels_id: string; email: string };
  const [row] = await env.sql`select channels_id, email from public.leads where id = ${lead.id}`;
  assert.deepEqual({ channels_id: row.channels_id, email: row.email }, {
    channels_id: channelId,
    email: "web@form.example",
  });
}

function assertLimited(reply: Reply) {
  assert.deepEqual(statusAndBody(reply), errorBody(reply, 429, "Too many requests", "rate_limited"));
}

Deno.test("intake guard: IPv6 is counted per /64; another /64 has its own budget", async () => {
  const env = testEnv();
  try {
    const channelId = await openChannel(env, 10);
    const replies = [];
    for (let i = 1; i <= 15; i++) {
      replies.push(await intake(env.handler, channelId, `203.0.113.9, 2001:db8:1:2:${i.toString(16)}::${i}`));
    }
    for (const reply of replies.slice(0, 10)) await assertAdmitted(env, reply, channelId);
    replies.slice(10).forEach(assertLimited);
    assert.equal(await leadCount(env, channelId), 1 + 10, "the world's lead and 10 intakes");
    await assertAdmitted(env, await intake(env.handler, channelId, "2001:db8:1:3::1"), channelId);
    assert.deepEqual(await logged(env, channelId), [
      { client: "2001:db8:1:2::/64", n: 10 },
      { client: "2001:db8:1:3::/64", n: 1 },
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("intake guard: every spelling of one address shares one bucket", async (t) => {
  const env = testEnv();
  try {
    await t.step("seven spellings of one IPv6 address", async () => {
      const channelId = await openChannel(env, 3);
      const spellings = [
        "2001:db8::1",
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        "2001:db8::1%eth0",
        "2001:db8:0:0::1",
      ];
      const replies = [];
      for (const spelling of spellings) replies.push(await intake(env.handler, channelId, spelling));
      for (const reply of replies.slice(0, 3)) await assertAdmitted(env, reply, channelId);
      replies.slice(3).forEach(assertLimited);
      assert.deepEqual(await logged(env, channelId), [{ client: "2001:db8::/64", n: 3 }]);
    });

    await t.step("an IPv4 address with a port and IPv4-mapped", async () => {
      const channelId = await openChannel(env, 3);
      const spellings = ["192.0.2.1", "192.0.2.1:5678", "::ffff:192.0.2.1", "[::FFFF:C000:201]:80", "192.0.2.1:80"];
      const replies = [];
      for (const spelling of spellings) replies.push(await intake(env.handler, channelId, spelling));
      for (const reply of replies.slice(0, 3)) await assertAdmitted(env, reply, channelId);
      replies.slice(3).forEach(assertLimited);
      assert.deepEqual(await logged(env, channelId), [{ client: "192.0.2.1", n: 3 }]);
    });
  } finally {
    await env.close();
  }
});

Deno.test("intake guard: entries that are not addresses share one unknown client; nothing long is stored", async () => {
  const env = testEnv();
  try {
    const channelId = await openChannel(env, 2);
    const garbage = ["x".repeat(60_000), "not-an-address", "_hidden", "unknown", "1.2.3.4.5", "example.com:80"];
    const replies = [];
    for (const entry of garbage) replies.push(await intake(env.handler, channelId, `198.51.100.1, ${entry}`));
    // No header and no connection info: the same unknown client.
    replies.push(await intake(env.handler, channelId, null));
    for (const reply of replies.slice(0, 2)) await assertAdmitted(env, reply, channelId);
    replies.slice(2).forEach(assertLimited);
    assert.deepEqual(await logged(env, channelId), [{ client: "unknown", n: 2 }]);
    const [longest] = await env.sql`select max(length(client))::int as n from public.intake_log`;
    assert.ok(longest.n <= 24, String(longest.n));
  } finally {
    await env.close();
  }
});

Deno.test("intake guard: TRUSTED_PROXY_HOPS=0 ignores X-Forwarded-For and counts the connection's address", async () => {
  const env = testEnv();
  const app = createApp((name) => ({ DATABASE_URL, TRUSTED_PROXY_HOPS: "0" } as Record<string, string>)[name]);
  try {
    const channelId = await openChannel(env, 1);
    await assertAdmitted(env, await intake(app.handler, channelId, "203.0.113.1", "198.51.100.9"), channelId);
    assertLimited(await intake(app.handler, channelId, "203.0.113.2", "198.51.100.9"));
    assertLimited(await intake(app.handler, channelId, null, "198.51.100.9"));
    await assertAdmitted(env, await intake(app.handler, channelId, "198.51.100.9", "[2001:db8::7]:5000"), channelId);
    assert.deepEqual(await logged(env, channelId), [
      { client: "198.51.100.9", n: 1 },
      { client: "2001:db8::/64", n: 1 },
    ]);
  } finally {
    await app.close();
    await env.close();
  }
});

Deno.test("intake guard: counting by the unspecified connection address 0.0.0.0 is logged once", async () => {
  const env = testEnv();
  const warnings: Record<string, unknown>[] = [];
  const handler = createHandler({ db: env.db, logWarning: (event) => warnings.push(event) });
  try {
    const channelId = await openChannel(env, 5);
    // Only the intake counts a client: any other action from that address neither works it out nor warns.
    const w = await world(env.sql);
    const unspecified = { remoteAddr: { hostname: "0.0.0.0" } };
    const other = await call((req) => handler(req, unspecified), { action: "get_channels" }, { key: w.receiving.key });
    assert.equal(other.status, 200);
    assert.deepEqual(warnings, [], "get_channels counts no client");
    await assertAdmitted(env, await intake(handler, channelId, "198.51.100.3", "0.0.0.0"), channelId);
    assert.deepEqual(warnings, [], "an X-Forwarded-For entry counted: no fallback");
    await assertAdmitted(env, await intake(handler, channelId, null, "0.0.0.0"), channelId);
    await assertAdmitted(env, await intake(handler, channelId, null, "0.0.0.0"), channelId);
    assert.deepEqual(warnings, [{
      warning: "intake_client_unspecified",
      message: "The public intake limit counts the connection's address 0.0.0.0 (no X-Forwarded-For arrived): " +
        'an unspecified address, not the caller\'s, so every caller shares one limit. See docs/guide.md, "The intake guard".',
    }]);
    assert.deepEqual(await logged(env, channelId), [{ client: "0.0.0.0", n: 2 }, { client: "198.51.100.3", n: 1 }]);
  } finally {
    await env.close();
  }
});

Deno.test("intake guard: rows older than the window are deleted as leads are admitted", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    const channelId = await openChannel(env, 2);
    const other = await openChannel(env, 2);
    // Rows other tests left behind that are already out of the window count for nothing.
    await sql`delete from public.intake_log where created_at <= now() - interval '1 minute'`;
    // Stale rows (an hour old, so the oldest of all) of clients that never come back, on another
    // channel, and one row still inside the window.
    await sql`insert into public.intake_log (channels_id, client, created_at)
      select ${other}, '10.0.0.' || g, now() - interval '1 hour' - g * interval '1 second'
      from generate_series(1, 25) g`;
    await sql`insert into public.intake_log (channels_id, client, created_at)
      values (${other}, '10.0.1.1', now() - interval '30 seconds')`;
    const stale = async () =>
      (await sql`select count(*)::int as n from public.intake_log where created_at < now() - interval '30 minutes'`)[0]
        .n;

    await t.step("a rejected intake writes and deletes nothing", async () => {
      await sql`insert into public.intake_log (channels_id, client)
        select ${channelId}, '203.0.113.5' from generate_series(1, 2)`;
      assertLimited(await intake(env.handler, channelId, "203.0.113.5"));
      assert.equal(await stale(), 25);
    });

    await t.step("an admitted intake deletes at most 20 expired rows, oldest first", async () => {
      await assertAdmitted(env, await intake(env.handler, channelId, "203.0.113.6"), channelId);
      assert.equal(await stale(), 5);
      const left = await sql`select client from public.intake_log where channels_id = ${other} order by client`;
      assert.deepEqual(left.map((r) => r.client), [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.5",
        "10.0.1.1",
      ]);
    });

    await t.step("the next one deletes the rest; rows inside the window stay", async () => {
      await assertAdmitted(env, await intake(env.handler, channelId, "203.0.113.6"), channelId);
      assert.equal(await stale(), 0);
      assert.deepEqual(await logged(env, other), [{ client: "10.0.1.1", n: 1 }]);
      assert.deepEqual(await logged(env, channelId), [{ client: "203.0.113.5", n: 2 }, {
        client: "203.0.113.6",
        n: 2,
      }]);
    });
  } finally {
    await env.close();
  }
});

Deno.test("intake guard SQL: a client not in canonical form counts as unknown and cannot be stored", async () => {
  const env = testEnv();
  const { sql } = env;
  try {
    const channelId = await openChannel(env, 1);
    const args = { channel_id: channelId, email: "web@form.example" };
    await sql`select public.lead_external(${sql.json(args)}, ${"x".repeat(1000)})`;
    await assert.rejects(sql`select public.lead_external(${sql.json(args)}, null)`, { message: "Too many requests" });
    assert.deepEqual(await logged(env, channelId), [{ client: "unknown", n: 1 }]);
    await assert.rejects(
      sql`insert into public.intake_log (channels_id, client) values (${channelId}, '2001:DB8::1')`,
      { message: /intake_log_client_check/ },
    );
  } finally {
    await env.close();
  }
});
