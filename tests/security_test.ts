import assert from "node:assert/strict";
import postgres from "postgres";
import { DATABASE_URL, testEnv, world } from "./helpers.ts";
import { migrate } from "../dev/migrate.ts";

Deno.test("Supabase security model", async (t) => {
  const env = await testEnv();
  const { sql } = env;
  try {
    await t.step("every table in public has row level security and no policy", async () => {
      const tables = await sql`
        select c.relname, c.relrowsecurity,
          (select count(*)::int from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname) as policies
        from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' order by 1`;
      assert.deepEqual(tables.map((r) => r.relname), [
        "api_keys",
        "channels",
        "companies",
        "currencies",
        "events",
        "idempotency_keys",
        "intake_log",
        "lead_status",
        "leads",
        "money_webhook_marks",
        "money_webhook_purchases",
        "payouts",
        "products",
        "property_definitions",
        "property_values",
        "purchases",
        "refunds",
        "reward_events",
        "reward_triggers",
        "stripe_connections",
        "stripe_customers",
        "stripe_events",
        "stripe_invoice_payments",
        "stripe_refunds",
        "stripe_sales",
        "webhook_attempts",
        "webhook_deliveries",
      ]);
      assert.deepEqual(tables.filter((r) => !r.relrowsecurity || r.policies > 0).map((r) => r.relname), []);
    });

    await t.step("anon and authenticated hold no table privileges", async () => {
      const rows = await sql`
        select table_name, grantee from information_schema.role_table_grants
        where table_schema = 'public' and grantee in ('anon', 'authenticated')`;
      assert.deepEqual([...rows], []);
    });

    await t.step("views are only in internal, and no API role can read them", async () => {
      const views = await sql`
        select n.nspname as schema, c.relname as name,
          has_table_privilege('anon', c.oid, 'select') or has_table_privilege('authenticated', c.oid, 'select')
            or has_table_privilege('service_role', c.oid, 'select') as readable
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_%' order by 1, 2`;
      assert.deepEqual(views.map((v) => `${v.schema}.${v.name} ${v.readable}`), [
        "internal.lead_objects false",
        "internal.purchase_objects false",
        "internal.reward_event_status false",
      ]);
    });

    await t.step("every function pins search_path and only service_role may execute the API", async () => {
      const functions = await sql`
        select n.nspname as schema, p.proname as name, p.proconfig as config, p.prosecdef as definer,
          has_function_privilege('anon', p.oid, 'execute') as anon,
          has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
          has_function_privilege('service_role', p.oid, 'execute') as service_role
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('public', 'internal') order by 1, 2`;
      assert.ok(functions.some((f) => f.name === "create_purchase"));
      // The rules the planner inlines (LANGUAGE sql, no SET clause, which would stop the inlining;
      // docs/operations.md, "Changing the database"): internal, not security definer, and only these.
      const inlined = [
        "accessible_channels",
        "iso_time",
        "may_record_purchases",
        "refund_json",
        "reward_amount",
        "reward_status",
      ];
      assert.deepEqual(
        functions.filter((f) => f.config === null).map((f) => `${f.schema}.${f.name}`),
        inlined.map((name) => `internal.${name}`),
      );
      for (const f of functions.filter((f) => f.config !== null)) {
        // A listing's statements are written for generic plans, planned once per session and
        // never JIT-compiled (supabase/schemas: get_leads, get_purchases, get_reward_events,
        // get_payouts); import_purchases joins its batch's rows by hash, never by nested loops
        // (06_purchases_and_rewards.sql); nothing else may be set.
        const allowed = [['search_path=""'], ['search_path=""', "plan_cache_mode=force_generic_plan", "jit=off"]];
        if (`${f.schema}.${f.name}` === "public.import_purchases") {
          allowed.push(['search_path=""', "enable_nestloop=off", "jit=off"]);
        }
        assert.ok(
          allowed.some((config) => JSON.stringify(config) === JSON.stringify(f.config)),
          `${f.schema}.${f.name} config ${JSON.stringify(f.config)}`,
        );
      }
      for (const f of functions) {
        assert.equal(f.anon, false, `${f.schema}.${f.name} anon`);
        assert.equal(f.authenticated, false, `${f.schema}.${f.name} authenticated`);
        assert.equal(f.service_role, f.schema === "public", `${f.schema}.${f.name} service_role`);
        assert.equal(f.definer, f.schema === "public", `${f.schema}.${f.name} security definer`);
      }
    });

    await t.step(
      "default privileges are scoped: functions postgres creates in other schemas keep PUBLIC's EXECUTE",
      async () => {
        // No project-wide entry: Postgres's own default (EXECUTE for PUBLIC) holds outside this
        // project's schemas; inside them only the per-schema revokes from anon and authenticated.
        const entries = await sql`
        select pg_get_userbyid(defaclrole) as role, defaclnamespace::regnamespace::text as schema,
          defaclobjtype as type, defaclacl::text as acl
        from pg_default_acl where defaclnamespace = 0 or defaclnamespace not in ('public'::regnamespace, 'internal'::regnamespace)`;
        assert.deepEqual([...entries], []);
        const schema = `other_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
        await sql.unsafe(`create schema ${schema}`);
        try {
          await sql.unsafe(`create function ${schema}.probe() returns int language sql as 'select 1'`);
          const [row] = await sql.unsafe(`select
          has_function_privilege('anon', '${schema}.probe()', 'execute') as anon,
          has_function_privilege('authenticated', '${schema}.probe()', 'execute') as authenticated,
          (select proacl from pg_proc where oid = '${schema}.probe()'::regprocedure) is null as default_acl`);
          assert.deepEqual({ ...row }, { anon: true, authenticated: true, default_acl: true });
        } finally {
          await sql.unsafe(`drop schema ${schema} cascade`);
        }
      },
    );

    await t.step("anon cannot call create_purchase", async () => {
      const w = await world(sql);
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx`set local role anon`;
          await tx`select public.create_purchase('x', ${JSON.stringify({ lead_id: w.leadId })}::jsonb)`;
        }),
        /permission denied for function create_purchase/,
      );
    });

    await t.step("API keys are stored only as SHA-256 hashes", async () => {
      const w = await world(sql);
      const [row] = await sql`select * from public.api_keys where companies_id = ${w.receiving.id}`;
      const hash = Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(w.receiving.key))),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      assert.equal(row.key_hash, hash);
      assert.ok(!JSON.stringify(row).includes(w.receiving.key));
    });

    await t.step("the migrations apply as a role that is not a superuser, as Supabase's postgres is not", async () => {
      const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
      const [role, database] = [`migrator_${suffix}`, `migrated_${suffix}`];
      await sql.unsafe(`create role ${role} login password 'pw' nosuperuser createdb`);
      await sql.unsafe(`create database ${database} owner ${role}`);
      const url = new URL(DATABASE_URL);
      url.username = role;
      url.password = "pw";
      url.pathname = `/${database}`;
      const asMigrator = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        const applied = await migrate(asMigrator);
        const files = [...Deno.readDirSync("supabase/migrations")].map((e) => e.name.split("_")[0]).sort();
        assert.deepEqual(applied, files);
        const [owner] = await asMigrator`select pg_get_userbyid(proowner) as owner, prosecdef from pg_proc
          where proname = 'create_purchase' and pronamespace = 'public'::regnamespace`;
        assert.deepEqual({ ...owner }, { owner: role, prosecdef: true });
      } finally {
        await asMigrator.end();
        await sql.unsafe(`drop database ${database} with (force)`);
        await sql.unsafe(`drop owned by ${role}`);
        await sql.unsafe(`drop role ${role}`);
      }
    });

    await t.step("migrations are recorded the way the Supabase CLI records them", async () => {
      const rows = await sql`select version, name from supabase_migrations.schema_migrations order by version`;
      const files = [...Deno.readDirSync("supabase/migrations")].map((e) => e.name).sort();
      assert.deepEqual(rows.map((r) => `${r.version}_${r.name}.sql`), files);
    });
  } finally {
    await env.close();
  }
});
