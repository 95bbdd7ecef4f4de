// The two operator-facing commands, run as real processes: `deno task admin` against the
// test database, and `deno task start` on its own embedded PostgreSQL.
import assert from "node:assert/strict";
import { join } from "node:path";
import { act, DATABASE_URL, ops, testEnv, world } from "./helpers.ts";
import { freePort } from "../dev/cluster.ts";

async function admin(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "dev/admin.ts", ...args],
    env: { DATABASE_URL },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  return {
    code: out.code,
    json: out.code === 0 && stdout.startsWith("{") ? JSON.parse(stdout) : null,
    stdout,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("deno task admin", async (t) => {
  const env = testEnv();
  const { sql } = env;
  try {
    await t.step("creates a whole channel setup, printing one JSON object per call", async () => {
      const company = await admin("company", "create", "--name", "CLI Co");
      assert.equal(company.code, 0, company.stderr);
      assert.equal(company.json.name, "CLI Co");
      const other = (await admin("company", "create", "--name", "CLI Partner")).json;
      const key = await admin("key", "create", "--company", company.json.id, "--name", "ci");
      assert.match(key.json.api_key, /^sk_[A-Za-z0-9_-]{43}$/);
      assert.equal(key.json.prefix, key.json.api_key.slice(0, 10));
      const channel = (await admin(
        "channel",
        "create",
        "--title",
        "CLI channel",
        "--creator",
        company.json.id,
        "--referring",
        other.id,
        "--receiving",
        company.json.id,
        "--currency",
        "EUR",
        "--public",
        "--webhook-new-lead",
        "http://127.0.0.1:1/hook",
      )).json;
      assert.deepEqual(
        [channel.currency, channel.no_auth_api, channel.webhook_new_lead, channel.referring_id],
        ["EUR", true, "http://127.0.0.1:1/hook", other.id],
      );
      assert.match(channel.webhook_secret, /^whsec_/);
      const status = (await admin("status", "create", "--channel", channel.id, "--name", "New", "--color", "#fff"))
        .json;
      assert.equal(status.order, 0);
      const won = (await admin("status", "create", "--channel", channel.id, "--name", "Won")).json;
      assert.equal(won.order, 1);
      const property =
        (await admin("property", "create", "--channel", channel.id, "--name", "Budget", "--type", "number"))
          .json;
      assert.equal(property.type, "number");
      const product = (await admin("product", "create", "--company", company.json.id, "--name", "Plan")).json;
      assert.equal(product.companies_id, company.json.id);
      const created = await admin(
        "trigger",
        "create",
        "--channel",
        channel.id,
        "--on",
        "status_change",
        "--status-id",
        won.id,
        "--reward",
        "fixed",
        "--amount",
        "12.50",
        "--inactive",
      );
      const trigger = created.json;
      assert.deepEqual([trigger.amount, trigger.status, trigger.lead_status_id], [12.5, "Inactive", won.id]);
      assert.ok(created.stdout.includes('\n  "amount": 12.50,\n'), created.stdout);
      const lead = (await admin("lead", "create", "--channel", channel.id, "--email", "x@example.com")).json;
      assert.deepEqual([lead.lead_status_id, lead.email], [status.id, "x@example.com"]);

      const rotated = (await admin("channel", "rotate-secret", "--id", channel.id)).json;
      assert.equal(rotated.id, channel.id);
      assert.match(rotated.webhook_secret, /^whsec_/);
      assert.notEqual(rotated.webhook_secret, channel.webhook_secret);
      const [event] = await sql`insert into public.events (category, channels_id, leads_id)
        values ('new_lead', ${channel.id}, ${lead.id}) returning id`;
      const [delivery] =
        await sql`insert into public.webhook_deliveries (channels_id, events_id, type, url, payload, status)
        values (${channel.id}, ${event.id}, 'lead.created', 'http://127.0.0.1:1/hook', '{}', 'failed') returning id`;
      await sql`insert into public.webhook_attempts (webhook_deliveries_id, attempt, status_code, latency_ms)
        values (${delivery.id}, 1, 500, 12)`;
      const listed = (await admin("webhook", "list", "--channel", channel.id)).json;
      assert.deepEqual(
        listed.deliveries.map((
          d: { id: string; status: string; attempt_log: unknown[] },
        ) => [d.id, d.status, d.attempt_log.length]),
        [[delivery.id, "failed", 1]],
      );
      const again = (await admin("webhook", "redeliver", "--id", delivery.id)).json;
      assert.deepEqual([again.id, again.status], [delivery.id, "pending"]);
      const badUrl = await admin(
        "channel",
        "create",
        "--title",
        "x",
        "--creator",
        company.json.id,
        "--referring",
        other.id,
        "--receiving",
        company.json.id,
        "--webhook-new-lead",
        "ftp://127.0.0.1/x",
      );
      assert.equal(badUrl.code, 1);
      assert.match(badUrl.stderr, /only http and https URLs are allowed/);

      const revoked = await admin("key", "revoke", "--id", key.json.id);
      assert.equal(revoked.code, 0);
      const [row] = await sql`select revoked_at from public.api_keys where id = ${key.json.id}`;
      assert.ok(row.revoked_at instanceof Date);
    });

    await t.step("channel settings of §7: create with them, update them, refuse unknown values", async () => {
      const [a, b] = await Promise.all(
        ["Settings A", "Settings B"].map((name) => admin("company", "create", "--name", name)),
      );
      const ids = ["--creator", a.json.id, "--referring", b.json.id, "--receiving", a.json.id];
      const created = await admin(
        "channel",
        "create",
        "--title",
        "S",
        ...ids,
        "--purchase-writers",
        "any",
        "--hold-days",
        "0",
      );
      assert.equal(created.code, 0, created.stderr);
      assert.deepEqual(
        [created.json.purchase_writers, created.json.hold_days, created.json.intake_per_minute],
        ["any", 0, 10],
      );
      const defaults = (await admin("channel", "create", "--title", "D", ...ids)).json;
      assert.deepEqual([defaults.purchase_writers, defaults.hold_days], ["receiving", 30]);
      const updated = await admin(
        "channel",
        "update",
        "--id",
        created.json.id,
        "--purchase-writers",
        "receiving",
        "--hold-days",
        "14",
        "--intake-per-minute",
        "3",
      );
      assert.equal(updated.code, 0, updated.stderr);
      assert.deepEqual(
        [updated.json.purchase_writers, updated.json.hold_days, updated.json.intake_per_minute],
        ["receiving", 14, 3],
      );
      for (
        const [args, message] of [
          [
            ["channel", "update", "--id", created.json.id, "--purchase-writers", "everyone"],
            '--purchase-writers must be receiving or any, got "everyone"',
          ],
          [
            ["channel", "create", "--title", "X", ...ids, "--purchase-writers", "all"],
            '--purchase-writers must be receiving or any, got "all"',
          ],
          [
            ["channel", "update", "--id", created.json.id, "--hold-days=-1"],
            "--hold-days must be between 0 and 3650",
          ],
          [["channel", "update", "--id", crypto.randomUUID(), "--hold-days", "1"], "No channel with id"],
        ] as const
      ) {
        const refused = await admin(...args);
        assert.deepEqual([refused.code, refused.stdout], [1, ""], args.join(" "));
        assert.ok(refused.stderr.includes(message), refused.stderr);
      }
      const [row] = await sql`select purchase_writers, hold_days from public.channels where id = ${created.json.id}`;
      assert.deepEqual({ ...row }, { purchase_writers: "receiving", hold_days: 14 });
      const [n] = await sql`select count(*)::int as n from public.channels where title = 'X'`;
      assert.equal(n.n, 0);
    });

    await t.step("payout list: JSON, and RFC 4180 CSV with --csv", async () => {
      const w = await world(sql, { holdDays: 0 });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "12.5" });
      await sql`update public.companies set name = 'Acme, "The" Referrer' where id = ${w.referring.id}`;
      await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId });
      const payout = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body.payout as {
        id: string;
        created_at: string;
      };
      const listed = await admin("payout", "list", "--channel", w.channelId);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(listed.json.payouts.map((p: Record<string, unknown>) => [p.payout_id, p.amount, p.status]), [
        [payout.id, 12.5, "pending"],
      ]);
      assert.ok(listed.stdout.includes('\n      "amount": 12.50,\n'), listed.stdout);
      const csv = await admin("payout", "list", "--channel", w.channelId, "--csv");
      assert.equal(csv.code, 0, csv.stderr);
      assert.equal(
        csv.stdout,
        "payout_id,channel_id,beneficiary_company_id,beneficiary_name,currency,amount,status,reference,created_at,paid_at\r\n" +
          `${payout.id},${w.channelId},${w.referring.id},"Acme, ""The"" Referrer",USD,12.50,pending,,${payout.created_at},\r\n`,
      );
    });

    await t.step("payout list --csv: references and names that a spreadsheet would run get a leading '", async () => {
      const w = await world(sql, { holdDays: 0 });
      await ops.createTrigger(sql, { channel: w.channelId, on: "purchase", reward: "fixed", amount: "12.5" });
      const name = '=HYPERLINK("http://evil.example","Click")';
      await sql`update public.companies set name = ${name} where id = ${w.referring.id}`;
      // The references the receiving company chose, each paid in a payout of its own.
      const references = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+1", "-2+3", "\tTAB", "\rCR", "SEPA-1"];
      for (const reference of references) {
        await act(env, w.receiving.key, "create_purchase", { lead_id: w.leadId });
        const payout = (await act(env, w.receiving.key, "create_payout", { channel_id: w.channelId })).body
          .payout as { id: string };
        const paid = await act(env, w.receiving.key, "mark_payout_paid", { payout_id: payout.id, reference });
        assert.equal(paid.status, 200, paid.text);
      }
      const rows = await sql`select id, internal.iso_time(created_at) as created_at,
          internal.iso_time(paid_at) as paid_at
        from public.payouts where channels_id = ${w.channelId} order by created_at desc, id desc`;
      const written = ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'+1+1", "'-2+3", "'\tTAB", `"'\rCR"`, "SEPA-1"]
        .reverse();
      const csv = await admin("payout", "list", "--channel", w.channelId, "--csv");
      assert.deepEqual([csv.code, csv.stderr], [0, ""]);
      assert.equal(
        csv.stdout,
        "payout_id,channel_id,beneficiary_company_id,beneficiary_name,currency,amount,status,reference,created_at,paid_at\r\n" +
          rows.map((row, i) =>
            `${row.id},${w.channelId},${w.referring.id},"'=HYPERLINK(""http://evil.example"",""Click"")",USD,12.50,` +
            `paid,${written[i]},${row.created_at},${row.paid_at}\r\n`
          ).join(""),
      );
      // An amount is a number, never prefixed, even a negative one.
      assert.equal(
        ops.payoutsCsv([{ amount: "-12.50", reference: "-12.50" }]).split("\r\n")[1],
        ",,,,,-12.50,,'-12.50,,",
      );
    });

    await t.step("trigger create and names: clear refusals, exit 1, nothing written", async () => {
      const company = (await admin("company", "create", "--name", "Refusals")).json;
      const ids = ["--creator", company.id, "--referring", company.id, "--receiving", company.id];
      const yen = (await admin("channel", "create", "--title", "Yen", ...ids, "--currency", "JPY")).json;
      const trigger = (reward: string, amount: string, ...more: string[]) => [
        "trigger",
        "create",
        "--channel",
        yen.id,
        "--on",
        "purchase",
        "--reward",
        reward,
        "--amount",
        amount,
        ...more,
      ];
      for (
        const [args, message] of [
          [
            trigger("percentage", "100.01"),
            'error: --amount of a percentage trigger must be at most 100, got "100.01"',
          ],
          [trigger("percentage", "150"), 'error: --amount of a percentage trigger must be at most 100, got "150"'],
          [
            trigger("fixed", "100.5"),
            `error: --amount of a fixed trigger must not be finer than JPY's minor unit (0 decimal places), got "100.5"`,
          ],
          [
            trigger("fixed", "12345678901234567"),
            'error: --amount must have at most 16 digits before the decimal point, got "12345678901234567"',
          ],
          [
            trigger("percentage", "1.0000000000001"),
            'error: --amount must have at most 12 digits after the decimal point, got "1.0000000000001"',
          ],
          [
            trigger("fixed", "1e3"),
            'error: --amount must be a non-negative decimal number such as 10 or 12.50, got "1e3"',
          ],
          [trigger("fixed", "100", "--name", " "), "error: --name must not be blank"],
          [["company", "create", "--name", "   "], "error: --name must not be blank"],
          [["channel", "create", "--title", " ", ...ids], "error: --title must not be blank"],
          [["key", "create", "--company", company.id, "--name", ""], "error: --name must not be blank"],
          [["status", "create", "--channel", yen.id, "--name", "\t"], "error: --name must not be blank"],
          [["property", "create", "--channel", yen.id, "--name", " "], "error: --name must not be blank"],
          [["product", "create", "--company", company.id, "--name", "  "], "error: --name must not be blank"],
        ] as const
      ) {
        const refused = await admin(...args);
        assert.deepEqual([refused.code, refused.stdout, refused.stderr.trim()], [1, "", message], args.join(" "));
      }
      const [n] = await sql`select
        (select count(*)::int from public.companies where name ~ '^[[:space:]]*$') as companies,
        (select count(*)::int from public.channels where title ~ '^[[:space:]]*$') as channels,
        (select count(*)::int from public.api_keys where companies_id = ${company.id}) as keys,
        (select count(*)::int from public.lead_status where channels_id = ${yen.id}) as statuses,
        (select count(*)::int from public.property_definitions where channels_id = ${yen.id}) as properties,
        (select count(*)::int from public.products where companies_id = ${company.id}) as products,
        (select count(*)::int from public.reward_triggers where channels_id = ${yen.id}) as triggers`;
      assert.deepEqual({ ...n }, {
        companies: 0,
        channels: 0,
        keys: 0,
        statuses: 0,
        properties: 0,
        products: 0,
        triggers: 0,
      });
      // At the limits: 100 %, 12.5 %, a whole yen amount (trailing zeros are no finer), printed as JSON numbers.
      for (const [reward, amount] of [["percentage", "100"], ["percentage", "12.5"], ["fixed", "100.00"]]) {
        const made = await admin(...trigger(reward, amount));
        assert.equal(made.code, 0, made.stderr);
        assert.ok(made.stdout.includes(`\n  "amount": ${amount},\n`), made.stdout);
      }
    });

    await t.step("--help at every level lists the verbs and their flags on stdout, exit 0", async () => {
      const top = await admin("--help");
      assert.deepEqual([top.code, top.stderr], [0, ""]);
      assert.match(top.stdout, /^usage: deno task admin <resource> <verb> \[--flags\]/);
      for (
        const line of [
          "company   create, list",
          "key       create, list, revoke",
          "channel   create, list, update, rotate-secret",
          "product   create, list",
          "trigger   create, list",
          "payout    list",
        ]
      ) assert.ok(top.stdout.includes(line), line);
      const channel = await admin("channel", "--help");
      assert.deepEqual([channel.code, channel.stderr], [0, ""]);
      for (const verb of ["create --title T", "list [--company ID]", "update --id CHANNEL_ID", "rotate-secret --id"]) {
        assert.ok(channel.stdout.includes(`  channel ${verb}`), verb);
      }
      assert.ok(channel.stdout.includes('[--webhook-new-lead URL|""]'));
      const key = await admin("key", "list", "--help");
      assert.deepEqual([key.code, key.stderr], [0, ""]);
      assert.match(key.stdout, /key list --company ID\n.*never the key/);
      const short = await admin("trigger", "-h");
      assert.equal(short.code, 0);
      assert.match(short.stdout, /trigger create --channel ID --on purchase\|new_lead\|status_change/);
      const bare = await admin("channel");
      assert.deepEqual([bare.code, bare.stdout], [2, ""]);
      assert.match(bare.stderr, /usage: deno task admin channel <verb>/);
    });

    await t.step(
      "list verbs: companies, keys without their secret, channels, statuses, products, triggers",
      async () => {
        const company = (await admin("company", "create", "--name", "Lister")).json;
        const other = (await admin("company", "create", "--name", "Lister Partner")).json;
        const companies = (await admin("company", "list")).json.companies as Record<string, unknown>[];
        assert.deepEqual(companies.find((c) => c.id === company.id), company);
        const key = (await admin("key", "create", "--company", company.id, "--name", "ci")).json;
        await admin("key", "revoke", "--id", key.id);
        const second = (await admin("key", "create", "--company", company.id)).json;
        const keys = await admin("key", "list", "--company", company.id);
        assert.equal(keys.code, 0, keys.stderr);
        assert.deepEqual(keys.json.keys.map((k: Record<string, unknown>) => Object.keys(k)), [
          ["id", "name", "prefix", "created_at", "revoked_at"],
          ["id", "name", "prefix", "created_at", "revoked_at"],
        ]);
        assert.deepEqual(
          keys.json.keys.map((k: Record<string, unknown>) => [k.id, k.name, k.prefix, typeof k.revoked_at]),
          [[key.id, "ci", key.prefix, "string"], [second.id, null, second.prefix, "object"]],
        );
        assert.ok(!keys.stdout.includes(key.api_key) && !keys.stdout.includes(second.api_key));
        const [{ key_hash }] = await sql`select key_hash from public.api_keys where id = ${key.id}`;
        assert.ok(!keys.stdout.includes(key_hash));

        const channel = (await admin(
          "channel",
          "create",
          "--title",
          "Listed",
          "--creator",
          company.id,
          "--referring",
          other.id,
          "--receiving",
          company.id,
          "--hold-days",
          "7",
        )).json;
        const mine = await admin("channel", "list", "--company", other.id);
        assert.equal(mine.code, 0, mine.stderr);
        assert.deepEqual(mine.json.channels.map((c: Record<string, unknown>) => [c.id, c.title, c.hold_days]), [
          [channel.id, "Listed", 7],
        ]);
        assert.ok(!("webhook_secret" in mine.json.channels[0]));
        assert.ok(!mine.stdout.includes(channel.webhook_secret));
        const all = (await admin("channel", "list")).json.channels as Record<string, unknown>[];
        assert.ok(all.some((c) => c.id === channel.id) && all.length >= 2);

        await admin("status", "create", "--channel", channel.id, "--name", "New");
        await admin("status", "create", "--channel", channel.id, "--name", "Won", "--color", "#22c55e");
        const statuses = (await admin("status", "list", "--channel", channel.id)).json.statuses;
        assert.deepEqual(statuses.map((s: Record<string, unknown>) => [s.status, s.order, s.color]), [
          ["New", 0, null],
          ["Won", 1, "#22c55e"],
        ]);
        await admin("property", "create", "--channel", channel.id, "--name", "Budget", "--type", "number");
        const properties = (await admin("property", "list", "--channel", channel.id)).json.properties;
        assert.deepEqual(properties.map((p: Record<string, unknown>) => [p.name, p.type, p.order]), [
          ["Budget", "number", 0],
        ]);
        const product = (await admin("product", "create", "--company", company.id, "--name", "Plan")).json;
        const products = (await admin("product", "list", "--company", company.id)).json.products;
        assert.deepEqual(products.map((p: Record<string, unknown>) => [p.id, p.name]), [[product.id, "Plan"]]);
        const trigger = (await admin(
          "trigger",
          "create",
          "--channel",
          channel.id,
          "--on",
          "status_change",
          "--status-id",
          statuses[1].id,
          "--reward",
          "fixed",
          "--amount",
          "2852199999999999.99",
        )).json;
        const listed = await admin("trigger", "list", "--channel", channel.id);
        // A float would print 2852200000000000: the amount is printed with every digit.
        assert.ok(listed.stdout.includes('\n      "amount": 2852199999999999.99,\n'), listed.stdout);
        const triggers = listed.json.triggers;
        assert.deepEqual(triggers, [{
          id: trigger.id,
          name: null,
          trigger: "status_change",
          lead_status_id: statuses[1].id,
          reward_type: "fixed",
          amount: 2852199999999999.99,
          status: "Active",
          created_at: trigger.created_at,
        }]);
        const lead = (await admin("lead", "create", "--channel", channel.id, "--email", "l@example.com")).json;
        assert.equal(typeof lead.legacy_id, "number");
        const leads = (await admin("lead", "list", "--channel", channel.id)).json.leads;
        assert.deepEqual(leads.map((l: Record<string, unknown>) => [l.id, l.legacy_id, l.email, l.status]), [
          [lead.id, lead.legacy_id, "l@example.com", "New"],
        ]);
      },
    );

    await t.step('channel update sets and clears webhook URLs ("" clears one, others keep theirs)', async () => {
      const [a, b] = await Promise.all(
        ["Hooks A", "Hooks B"].map((name) => admin("company", "create", "--name", name)),
      );
      const channel = (await admin(
        "channel",
        "create",
        "--title",
        "Hooks",
        "--creator",
        a.json.id,
        "--referring",
        b.json.id,
        "--receiving",
        a.json.id,
      )).json;
      const set = await admin(
        "channel",
        "update",
        "--id",
        channel.id,
        "--webhook-new-lead",
        "http://127.0.0.1:9000/hook",
        "--webhook-status-update",
        "https://hooks.example.com/status",
      );
      assert.equal(set.code, 0, set.stderr);
      assert.deepEqual([set.json.webhook_new_lead, set.json.webhook_status_update], [
        "http://127.0.0.1:9000/hook",
        "https://hooks.example.com/status",
      ]);
      const cleared = await admin("channel", "update", "--id", channel.id, "--webhook-new-lead", "");
      assert.equal(cleared.code, 0, cleared.stderr);
      assert.deepEqual([cleared.json.webhook_new_lead, cleared.json.webhook_status_update], [
        null,
        "https://hooks.example.com/status",
      ]);
      const [row] = await sql`select webhook_new_lead, webhook_status_update from public.channels
        where id = ${channel.id}`;
      assert.deepEqual({ ...row }, {
        webhook_new_lead: null,
        webhook_status_update: "https://hooks.example.com/status",
      });
      const bad = await admin("channel", "update", "--id", channel.id, "--webhook-status-update", "ftp://x/y");
      assert.deepEqual([bad.code, bad.stdout], [1, ""]);
      assert.match(bad.stderr, /only http and https URLs are allowed/);
    });

    await t.step("--webhook-money sets and clears the money webhook on create and update", async () => {
      const [a, b] = await Promise.all(
        ["Money A", "Money B"].map((name) => admin("company", "create", "--name", name)),
      );
      const created = await admin(
        "channel",
        "create",
        "--title",
        "Money hooks",
        "--creator",
        a.json.id,
        "--referring",
        b.json.id,
        "--receiving",
        a.json.id,
        "--webhook-money",
        "http://127.0.0.1:9000/money",
      );
      assert.equal(created.code, 0, created.stderr);
      assert.deepEqual([created.json.webhook_money, created.json.webhook_new_lead], [
        "http://127.0.0.1:9000/money",
        null,
      ]);
      const id = created.json.id;
      const moved = await admin("channel", "update", "--id", id, "--webhook-money", "https://hooks.example.com/money");
      assert.equal(moved.code, 0, moved.stderr);
      assert.equal(moved.json.webhook_money, "https://hooks.example.com/money");
      const kept = await admin("channel", "update", "--id", id, "--hold-days", "7");
      assert.equal(kept.json.webhook_money, "https://hooks.example.com/money");
      const listed = (await admin("channel", "list", "--company", a.json.id)).json.channels;
      assert.equal(listed[0].webhook_money, "https://hooks.example.com/money");
      const cleared = await admin("channel", "update", "--id", id, "--webhook-money", "");
      assert.equal(cleared.code, 0, cleared.stderr);
      assert.equal(cleared.json.webhook_money, null);
      const [row] = await sql`select webhook_money from public.channels where id = ${id}`;
      assert.equal(row.webhook_money, null);
      const bad = await admin("channel", "update", "--id", id, "--webhook-money", "ftp://x/y");
      assert.deepEqual([bad.code, bad.stdout], [1, ""]);
      assert.match(bad.stderr, /only http and https URLs are allowed/);
      const help = await admin("channel", "--help");
      assert.ok(help.stdout.includes('[--webhook-money URL|""]'));
    });

    await t.step("clear messages instead of database errors, nothing written", async () => {
      const company = (await admin("company", "create", "--name", "Messages")).json;
      const channel = (await admin(
        "channel",
        "create",
        "--title",
        "Messages",
        "--creator",
        company.id,
        "--referring",
        company.id,
        "--receiving",
        company.id,
      )).json;
      const missing = "11111111-2222-4333-8444-555555555555";
      const ids = ["--creator", company.id, "--referring", company.id, "--receiving", company.id];
      for (
        const [args, message] of [
          [["channel", "create", "--title", "Bad", ...ids, "--currency", "XYZ"], "error: Unknown currency XYZ"],
          [
            ["channel", "create", "--title", "Bad", ...ids, "--partner", missing],
            `error: No company with id ${missing}`,
          ],
          [
            ["channel", "create", "--title", "Bad", ...ids, "--creator", "acme"],
            'error: --creator must be a UUID, got "acme"',
          ],
          [["key", "create", "--company", missing], `error: No company with id ${missing}`],
          [["key", "list", "--company", "nope"], 'error: --company must be a UUID, got "nope"'],
          [["product", "create", "--company", missing, "--name", "P"], `error: No company with id ${missing}`],
          [["channel", "list", "--company", missing], `error: No company with id ${missing}`],
          [["status", "create", "--channel", missing, "--name", "New"], `error: No channel with id ${missing}`],
          [["trigger", "list", "--channel", missing], `error: No channel with id ${missing}`],
          [
            ["trigger", "create", "--channel", channel.id, "--on", "sale", "--reward", "fixed", "--amount", "1"],
            'error: --on must be purchase, new_lead or status_change, got "sale"',
          ],
          [
            ["trigger", "create", "--channel", channel.id, "--on", "purchase", "--reward", "bonus", "--amount", "1"],
            'error: --reward must be fixed or percentage, got "bonus"',
          ],
          [
            ["trigger", "create", "--channel", channel.id, "--on", "purchase", "--reward", "fixed", "--amount", "1,5"],
            'error: --amount must be a non-negative decimal number such as 10 or 12.50, got "1,5"',
          ],
          [
            [
              "trigger",
              "create",
              "--channel",
              channel.id,
              "--on",
              "status_change",
              "--reward",
              "fixed",
              "--amount",
              "1",
            ],
            "error: --status-id is required with --on status_change",
          ],
          [
            [
              "trigger",
              "create",
              "--channel",
              channel.id,
              "--on",
              "status_change",
              "--status-id",
              missing,
              "--reward",
              "fixed",
              "--amount",
              "1",
            ],
            `error: No status with id ${missing} on channel ${channel.id}`,
          ],
          [
            ["property", "create", "--channel", channel.id, "--name", "P", "--type", "date"],
            'error: --type must be text, number or select, got "date"',
          ],
          [["lead", "create", "--channel", missing], `error: No channel with id ${missing}`],
          [["webhook", "list", "--channel", missing], `error: No channel with id ${missing}`],
        ] as const
      ) {
        const refused = await admin(...args);
        assert.deepEqual([refused.code, refused.stdout, refused.stderr.trim()], [1, "", message], args.join(" "));
      }
      await admin("status", "create", "--channel", channel.id, "--name", "New");
      const twice = await admin("status", "create", "--channel", channel.id, "--name", "New");
      assert.deepEqual([twice.code, twice.stderr.trim()], [
        1,
        `error: Channel ${channel.id} already has a status named "New"`,
      ]);
      const [n] = await sql`select
        (select count(*)::int from public.channels where title = 'Bad') as channels,
        (select count(*)::int from public.reward_triggers where channels_id = ${channel.id}) as triggers,
        (select count(*)::int from public.lead_status where channels_id = ${channel.id}) as statuses`;
      assert.deepEqual({ ...n }, { channels: 0, triggers: 0, statuses: 1 });
    });

    await t.step("db migrate applies nothing on a migrated database and says so", async () => {
      const migrated = await admin("db", "migrate");
      assert.deepEqual([migrated.code, migrated.json], [0, { applied: [] }]);
    });

    await t.step("errors go to stderr with a non-zero exit and nothing on stdout", async () => {
      const missing = await admin("company", "create");
      assert.deepEqual([missing.code, missing.stdout, missing.stderr.trim()], [1, "", "error: --name is required"]);
      const unknownKey = await admin("key", "revoke", "--id", crypto.randomUUID());
      assert.equal(unknownKey.code, 1);
      assert.match(unknownKey.stderr, /No API key with id/);
      const unknownChannel = await admin("channel", "rotate-secret", "--id", crypto.randomUUID());
      assert.deepEqual([unknownChannel.code, unknownChannel.stdout], [1, ""]);
      assert.match(unknownChannel.stderr, /No channel with id/);
      const unknownDelivery = await admin("webhook", "redeliver", "--id", crypto.randomUUID());
      assert.deepEqual([unknownDelivery.code, unknownDelivery.stdout], [1, ""]);
      assert.match(unknownDelivery.stderr, /No webhook delivery with id/);
      const unknownCommand = await admin("spaceship", "launch");
      assert.equal(unknownCommand.code, 2);
      assert.match(unknownCommand.stderr, /usage: deno task admin/);
      const badFlag = await admin("company", "create", "--nmae", "x");
      assert.equal(badFlag.code, 2);
    });
  } finally {
    await env.close();
  }
});

Deno.test("deno task start serves the function on an embedded database and prints a working curl", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "openapi-operations-start-" });
  await Deno.chmod(dataDir, 0o755);
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "dev/serve.ts"],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      PORT: String(port),
      DATA_DIR: dataDir,
      WEBHOOK_SWEEP_SECRET: "local-sweep-secret",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    while (!/-d '.*'\n/.test(output)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`start exited before printing the curl:\n${output}`);
      output += value;
    }
    reader.releaseLock();
    const url = /curl -X POST (\S+)/.exec(output)![1];
    const key = /X-Api-Key: (\S+)"/.exec(output)![1];
    const body = /-d '(.*)'/.exec(output)![1];
    assert.equal(url, `http://127.0.0.1:${port}/functions/v1/openapi-operations`);
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Api-Key": key },
      body,
    });
    const json = await res.json();
    assert.equal(res.status, 200);
    assert.equal(json.purchase.purchase_amount, 12500);
    // The printed shell variables (DATA_DIR first: it is not the default .data, and `deno task admin`
    // must open this database), and the demo channel that shows the money-out lifecycle.
    const vars = Object.fromEntries([...output.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    assert.deepEqual(Object.keys(vars), [
      "DATA_DIR",
      "API",
      "RECEIVING_KEY",
      "REFERRING_KEY",
      "CHANNEL_ID",
      "LEAD_ID",
      "PRODUCT_ID",
      "PAYOUTS_CHANNEL_ID",
    ]);
    assert.deepEqual([vars.DATA_DIR, vars.API, vars.RECEIVING_KEY], [dataDir, url, key]);
    const rewards = await fetch(url, {
      method: "POST",
      headers: { "X-Api-Key": vars.REFERRING_KEY },
      body: JSON.stringify({ action: "get_reward_events", channel_id: vars.PAYOUTS_CHANNEL_ID }),
    }).then((r) => r.json());
    assert.deepEqual(
      rewards.reward_events.map((r: { status: string; amount: number }) => [r.status, r.amount]).sort(),
      [["approved", 25], ["paid", 25], ["pending", 25]],
    );
    assert.equal(json.purchase.date, "2025-04-01T00:00:00.000Z");
    const notFound = await fetch(`http://127.0.0.1:${port}/elsewhere`);
    assert.equal(notFound.status, 404);
    const missing = await notFound.json();
    assert.deepEqual(missing, {
      error: "Not found",
      code: "not_found",
      request_id: notFound.headers.get("x-request-id"),
    });
    assert.equal(notFound.headers.get("access-control-allow-origin"), "*");
    // The deployed composition (createApp) with its sweep endpoint, secret from the environment.
    for (const [secret, status] of [["local-sweep-secret", 202], ["wrong", 401]] as const) {
      const sweep = await fetch(`${url}/sweep-webhooks`, {
        method: "POST",
        headers: { Authorization: `Bearer ${secret}` },
      });
      assert.equal(sweep.status, status);
      await sweep.body?.cancel();
    }
  } finally {
    child.kill("SIGINT");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    assert.equal(status.code, 0);
    const pidFile = await Deno.stat(join(dataDir, "postgres", "postmaster.pid")).then(() => true, () => false);
    assert.equal(pidFile, false, "Ctrl-C stops the embedded database");
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("deno task start refuses a port in use before it starts a database", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "openapi-operations-busy-" });
  await Deno.chmod(dataDir, 0o755);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "dev/serve.ts"],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "",
        PORT: String(port),
        DATA_DIR: dataDir,
      },
      stdin: "null",
    }).output();
    assert.equal(out.code, 1);
    assert.equal(
      new TextDecoder().decode(out.stderr).trim(),
      `Port ${port} is in use on 127.0.0.1: stop what listens there, or start on another port (PORT=${
        port + 1
      } deno task start)`,
    );
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "no database was created or started");
  } finally {
    busy.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a fresh checkout: a quiet install, then a first start with no install noise and no DATA_DIR line", async () => {
  // The files a clone has (no node_modules, no .data), in a folder of their own, world-traversable
  // for the postgres user when run as root.
  const root = await Deno.makeTempDir({ prefix: "openapi-operations-clone-" });
  await Deno.chmod(root, 0o755);
  const env = { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", NO_COLOR: "1" };
  try {
    const copy = await new Deno.Command("cp", { args: ["-r", "deno.json", "deno.lock", "dev", "supabase", root] })
      .output();
    assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
    await Deno.remove(join(root, "supabase", ".temp"), { recursive: true }).catch(() => {});
    // Without --quiet: the packages are listed, but no build script is left waiting for approval.
    const listed = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--frozen"],
      cwd: root,
      clearEnv: true,
      env,
    }).output();
    const listedText = new TextDecoder().decode(listed.stdout) + new TextDecoder().decode(listed.stderr);
    assert.equal(listed.code, 0, listedText);
    assert.ok(!/approve-scripts|Ignored build scripts/.test(listedText), listedText);
    // The README's step: quiet.
    await Deno.remove(join(root, "node_modules"), { recursive: true });
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--frozen", "--quiet"],
      cwd: root,
      clearEnv: true,
      env,
    }).output();
    assert.deepEqual(
      [install.code, new TextDecoder().decode(install.stdout), new TextDecoder().decode(install.stderr)],
      [
        0,
        "",
        "",
      ],
    );
    const port = freePort();
    // In a session of its own, so that Ctrl-C (SIGINT to the group) reaches the task and the server.
    const child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "task", "start"],
      cwd: root,
      clearEnv: true,
      env: { ...env, PORT: String(port) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const drained = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (text) => void (stderr += text) }),
    );
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    try {
      while (!/-d '.*'\n/.test(output)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`start exited before printing the curl:\n${output}\n${stderr}`);
        output += value;
      }
    } finally {
      // Ctrl-C; then both pipes are read to their end, which comes when the server has stopped.
      Deno.kill(-child.pid, "SIGINT");
      while (!(await reader.read()).done);
      await drained;
      await child.status;
    }
    const pidFile = await Deno.stat(join(root, ".data", "postgres", "postmaster.pid")).then(() => true, () => false);
    assert.equal(pidFile, false, "Ctrl-C stops the embedded database");
    const names = [...output.matchAll(/^export (\w+)=/gm)].map((m) => m[1]);
    assert.deepEqual(names, [
      "API",
      "RECEIVING_KEY",
      "REFERRING_KEY",
      "CHANNEL_ID",
      "LEAD_ID",
      "PRODUCT_ID",
      "PAYOUTS_CHANNEL_ID",
    ]);
    // The default .data, in the checkout; the task runner's one line is all that goes to stderr.
    assert.ok((await Deno.stat(join(root, ".data", "demo.json"))).isFile);
    assert.equal(stderr, "Task start deno run --allow-all dev/serve.ts\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
