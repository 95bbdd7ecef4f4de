import assert from "node:assert/strict";
import { act, errorBody, ops, statusAndBody, testEnv, world } from "./helpers.ts";

// Unpadded base64url, as the API writes its cursors.
function base64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function concat(...parts: (string | number[])[]): Uint8Array {
  return new Uint8Array(parts.flatMap((p) => typeof p === "string" ? [...new TextEncoder().encode(p)] : p));
}

Deno.test("listing cursors: anything malformed answers 400, well-formed cursors page", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    const w = await world(sql);
    await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "1" });
    for (let i = 0; i < 3; i++) await ops.createLead(sql, { channel: w.channelId });
    for (let i = 0; i < 4; i++) {
      const bought = await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId, purchase_amount: i });
      assert.equal(bought.status, 200, bought.text);
    }
    // Every listing has 4 rows, all of the channel's rows of its table (the purchases are all
    // on w.leadId).
    const listings = [
      { action: "get_leads", fields: { channel_id: w.channelId }, listKey: "leads", table: "leads" },
      { action: "get_purchases", fields: { channel_id: w.channelId }, listKey: "purchases", table: "purchases" },
      { action: "get_purchases", fields: { lead_id: w.leadId }, listKey: "purchases", table: "purchases" },
      {
        action: "get_reward_events",
        fields: { channel_id: w.channelId },
        listKey: "reward_events",
        table: "reward_events",
      },
    ];
    const rows = async (table: string) =>
      await sql`select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
        from ${sql("public." + table)} where channels_id = ${w.channelId} order by created_at desc, id desc`;

    const id = crypto.randomUUID();
    const at = "2025-01-01T00:00:00.000000Z";
    const valid = `${at}|${id}`;
    const malformed: [string, string][] = [
      ["characters outside base64url", "garbage!"],
      ["a length base64 cannot have", "A"],
      ["non-ASCII characters", "é"],
      ["no decoded text", "===="],
      ["not a cursor", base64url("not-a-cursor")],
      ["padding", btoa(valid)],
      ["whitespace inside", `${base64url(valid).slice(0, 8)} \n${base64url(valid).slice(8)}`],
      ["base64 junk after it", `${base64url(valid)}AAAA`],
      ["no id", base64url(at)],
      ["no time", base64url(`|${id}`)],
      ["an empty part", base64url(`${valid}|`)],
      ["three parts", base64url(`${valid}|${id}`)],
      ["trailing junk", base64url(`${valid} `)],
      ["leading junk", base64url(` ${valid}`)],
      ["the reported +25:00 offset", base64url(`2025-01-01 00:00:00+25:00|${id}`)],
      ["an out-of-range offset in the encoder's shape", base64url(`2025-01-01T00:00:00.000000+25:00|${id}`)],
      ["a valid offset instead of Z", base64url(`2025-01-01T00:00:00.000000+02:00|${id}`)],
      ["month 13", base64url(`2025-13-01T00:00:00.000000Z|${id}`)],
      ["February 30", base64url(`2025-02-30T00:00:00.000000Z|${id}`)],
      ["hour 25", base64url(`2025-01-01T25:00:00.000000Z|${id}`)],
      ["24:00, another spelling of midnight", base64url(`2025-01-01T24:00:00.000000Z|${id}`)],
      ["year 0", base64url(`0000-01-01T00:00:00.000000Z|${id}`)],
      ["a year after timestamptz's last", base64url(`294277-01-01T00:00:00.000000Z|${id}`)],
      ["a seven-digit year", base64url(`1000000-01-01T00:00:00.000000Z|${id}`)],
      ["a zero-padded year", base64url(`02025-01-01T00:00:00.000000Z|${id}`)],
      ["milliseconds only", base64url(`2025-01-01T00:00:00.000Z|${id}`)],
      ["lower-case t and z", base64url(`2025-01-01t00:00:00.000000z|${id}`)],
      ["non-ASCII digits", base64url(`２０２５-01-01T00:00:00.000000Z|${id}`)],
      ["not a uuid", base64url(`${at}|not-a-uuid`)],
      ["an upper-case uuid", base64url(`${at}|${id.toUpperCase()}`)],
      ["a uuid without hyphens", base64url(`${at}|${id.replaceAll("-", "")}`)],
      ["a uuid in braces", base64url(`${at}|{${id}}`)],
      ["invalid UTF-8", base64url(new Uint8Array([0xff, 0xfe, 0xfd]))],
      ["a truncated UTF-8 sequence after the cursor", base64url(concat(valid, [0xc3]))],
      ["a NUL byte", base64url(concat(at, [0], id))],
      ["10,000 characters", "A".repeat(10_000)],
    ];

    for (const listing of listings) {
      await t.step(`${listing.action} ${Object.keys(listing.fields)}: every malformed cursor answers 400`, async () => {
        for (const [label, cursor] of malformed) {
          const reply = await act(env, w.receiving.key, listing.action, { ...listing.fields, cursor });
          assert.deepEqual(
            statusAndBody(reply),
            errorBody(reply, 400, "cursor is invalid", "invalid_request"),
            `${listing.action}: ${label}`,
          );
        }
      });
    }

    await t.step("next_cursor is base64url of the last row's time (µs, UTC) and id, and pages on", async () => {
      for (const listing of listings) {
        const expected = await rows(listing.table);
        const ids = expected.map((r) => r.id);
        assert.equal(ids.length, 4, listing.table);
        const first = await act(env, w.receiving.key, listing.action, { ...listing.fields, limit: 2 });
        const firstItems = first.body[listing.listKey] as { id: string }[];
        assert.deepEqual(firstItems.map((i) => i.id), ids.slice(0, 2), listing.action);
        assert.equal(first.body.next_cursor, base64url(`${expected[1].at}|${expected[1].id}`), listing.action);
        const second = await act(env, w.receiving.key, listing.action, {
          ...listing.fields,
          limit: 100,
          cursor: first.body.next_cursor,
        });
        assert.equal(second.status, 200, second.text);
        assert.deepEqual(
          (second.body[listing.listKey] as { id: string }[]).map((i) => i.id),
          ids.slice(2),
          listing.action,
        );
        assert.equal(second.body.next_cursor, null);
      }
    });

    await t.step("any instant the encoder can write is a valid cursor, however far off", async () => {
      const cases: [string, "all" | "none"][] = [
        ["", "all"], // no cursor: the first page
        [`9999-12-31T23:59:59.999999Z|${id}`, "all"],
        [`12345-06-07T08:09:10.111213Z|${id}`, "all"],
        [`294276-12-31T23:59:59.999999Z|ffffffff-ffff-ffff-ffff-ffffffffffff`, "all"],
        [`0001-01-01T00:00:00.000000Z|00000000-0000-0000-0000-000000000000`, "none"],
      ];
      for (const listing of listings) {
        const all = await act(env, w.receiving.key, listing.action, listing.fields);
        for (const [text, expected] of cases) {
          const reply = await act(env, w.receiving.key, listing.action, { ...listing.fields, cursor: base64url(text) });
          assert.deepEqual(
            statusAndBody(reply),
            { status: 200, body: expected === "all" ? all.body : { [listing.listKey]: [], next_cursor: null } },
            `${listing.action}: ${text}`,
          );
        }
      }
    });

    assert.deepEqual(env.logged, [], "no request ended in a 500");
  } finally {
    await env.close();
  }
});
