// The migrations (supabase/migrations) and the declarative schema (supabase/schemas) describe the
// same database: applied to two fresh databases they give the same catalog, and migra finds no
// difference; a change on one side only is found and printed. docs/operations.md, "Changing the
// database".
import assert from "node:assert/strict";
import postgres from "postgres";
import { migrate } from "../dev/migrate.ts";
import { scratchServer } from "../dev/scratch.ts";
import { applySchemas, catalog, catalogDiff, completion, migraSql } from "../dev/schema.ts";

Deno.test({
  name: "supabase/migrations and supabase/schemas agree",
  // migra (@pgkit/migra) keeps its own connection pools open after it answers.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const server = await scratchServer();
    const [fromDb, toDb] = [await server.database(), await server.database()];
    const from = postgres(fromDb.url, { max: 1, onnotice: () => {} });
    const to = postgres(toDb.url, { max: 1, onnotice: () => {} });
    try {
      await migrate(from);
      await applySchemas(to);

      await t.step("the same catalog: tables, constraints, indexes, views, functions, privileges", async () => {
        const [a, b] = [await catalog(from), await catalog(to)];
        assert.equal(catalogDiff(a, b), "");
        assert.ok(a.has("function public.create_purchase(key_hash text, args jsonb)"));
        assert.ok(a.has("view internal.reward_event_status"));
      });

      await t.step("the rules are inlined: a plan shows their expressions, not a call", async () => {
        const plan = async (query: string) =>
          (await from.unsafe(`explain (verbose, costs off) ${query}`)).map((r) => r["QUERY PLAN"]).join("\n");
        const id = "00000000-0000-0000-0000-000000000000";
        const scalars = await plan(`select internal.iso_time(now()), internal.reward_status('pending', false, now(), 3),
          internal.may_record_purchases('any', null, null), internal.reward_amount('fixed', 1, 2, 2)`);
        assert.match(scalars, /to_char\(timezone\('UTC'::text, now\(\)\)/);
        assert.doesNotMatch(scalars, /iso_time|reward_status|may_record_purchases|reward_amount/);
        const refund = await plan(`select internal.refund_json(r) from public.refunds r`);
        assert.match(refund, /CASE WHEN \(external_id IS NULL\) THEN json_build_object\('id', id/);
        assert.doesNotMatch(refund, /refund_json/);
        const channels = await plan(`select c.id from internal.accessible_channels('${id}') c`);
        assert.match(channels, /on public\.channels c/);
        assert.doesNotMatch(channels, /Function Scan/);
      });

      await t.step("migra finds no difference", async () => {
        assert.equal(await migraSql(fromDb.url, toDb.url), "");
      });

      await t.step("a function body changed on one side only is printed", async () => {
        await to.unsafe(`create or replace function internal.iso_time(t timestamptz) returns text language sql stable
          as $$ select pg_catalog.to_char(pg_catalog.timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$`);
        const diff = catalogDiff(await catalog(from), await catalog(to));
        assert.match(diff, /^~ function internal\.iso_time\(t timestamp with time zone\)$/m);
        assert.match(diff, /^- .*HH24:MI:SS\.MS"Z"/m);
        assert.match(diff, /^\+ .*HH24:MI:SS"Z"/m);
        assert.match(await migraSql(fromDb.url, toDb.url), /CREATE OR REPLACE FUNCTION internal\.iso_time/);
      });

      await t.step(
        "what migra leaves out (a function's settings, its privileges) is written from the catalog",
        async () => {
          await to.unsafe(`alter function public.get_leads(text, jsonb) reset jit;
          grant execute on function internal.page(text, json[], timestamptz[], uuid[], integer) to service_role`);
          const [a, b] = [await catalog(from), await catalog(to)];
          const { sql, differences } = completion(a, b);
          assert.deepEqual(differences, []);
          assert.match(sql, /^alter function public\.get_leads\(key_hash text, args jsonb\) reset all;$/m);
          assert.match(sql, /^alter function public\.get_leads\(.*\) set plan_cache_mode = 'force_generic_plan';$/m);
          assert.doesNotMatch(sql, /set jit/);
          assert.match(sql, /^grant execute on function internal\.page\(.*\) to service_role;$/m);
          // migra and the completion together turn one database into the other.
          await from.unsafe(`${await migraSql(fromDb.url, toDb.url)}\n${sql}`);
          assert.equal(catalogDiff(await catalog(from), b), "");
        },
      );
    } finally {
      await from.end();
      await to.end();
      await toDb.drop();
      await fromDb.drop();
      await server.stop();
    }
  },
});
