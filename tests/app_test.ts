// The composition root both the deployed index.ts and `deno task start` use.
import assert from "node:assert/strict";
import { call, DATABASE_URL, testEnv, world } from "./helpers.ts";
import { createApp } from "../supabase/functions/_shared/app.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("createApp: settings are checked at start with messages naming them", () => {
  for (
    const [vars, message] of [
      [{ DATABASE_URL, DATABASE_POOL_SIZE: "0" }, 'DATABASE_POOL_SIZE must be an integer from 1 to 999, got "0"'],
      [{ DATABASE_URL, DATABASE_POOL_SIZE: "many" }, 'DATABASE_POOL_SIZE must be an integer from 1 to 999, got "many"'],
      [{ DATABASE_URL, TRUSTED_PROXY_HOPS: "10" }, 'TRUSTED_PROXY_HOPS must be an integer from 0 to 9, got "10"'],
      [{ DATABASE_URL, TRUSTED_PROXY_HOPS: "-1" }, 'TRUSTED_PROXY_HOPS must be an integer from 0 to 9, got "-1"'],
    ] as const
  ) {
    assert.throws(() => createApp(envOf(vars)), { message });
  }
});

Deno.test("createApp: TRUSTED_PROXY_HOPS chooses which X-Forwarded-For entry the intake limit counts", async () => {
  const env = testEnv();
  const app = createApp(envOf({ DATABASE_URL, TRUSTED_PROXY_HOPS: "2" }));
  try {
    const w = await world(env.sql);
    await env.sql`update public.channels set no_auth_api = true, intake_per_minute = 1 where id = ${w.channelId}`;
    const intake = (forwardedFor: string) =>
      call(app.handler, { action: "lead_external", channel_id: w.channelId }, {
        headers: { "X-Forwarded-For": forwardedFor },
      });
    // Two trusted proxies appended the last two entries: the client is the second from the right.
    assert.equal((await intake("10.0.0.1, 198.51.100.7, 203.0.113.1")).status, 200);
    assert.equal((await intake("10.0.0.2, 198.51.100.7, 203.0.113.2")).status, 429);
    assert.equal((await intake("198.51.100.8, 203.0.113.1")).status, 200);
  } finally {
    await app.close();
    await env.close();
  }
});
