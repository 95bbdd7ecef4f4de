// The declarative schema (supabase/schemas/*.sql) and the tools that keep the migrations in step
// with it: applying the schema files to a database, a normalised catalog of a database, the
// difference of two catalogs, and the migration that turns one database into the other
// (@pgkit/migra, completed by the catalog for what it leaves out). Used by `deno task db:diff`,
// `deno task db:check` and tests/schema_sync_test.ts; docs/operations.md, "Changing the database".
import type postgres from "postgres";
import { run as migra } from "npm:@pgkit/migra@0.6.1";
import { SUPABASE_ROLES } from "./migrate.ts";

const SCHEMAS_DIR = new URL("../supabase/schemas/", import.meta.url);

/** The schema files in the order they apply (their numeric prefixes): name and SQL text. */
export async function schemaFiles(): Promise<{ name: string; sql: string }[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(SCHEMAS_DIR)) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  names.sort();
  return await Promise.all(
    names.map(async (name) => ({ name, sql: await Deno.readTextFile(new URL(name, SCHEMAS_DIR)) })),
  );
}

/** Creates the Supabase roles if missing and applies every schema file, in one transaction. */
export async function applySchemas(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(SUPABASE_ROLES);
  const files = await schemaFiles();
  await sql.begin(async (tx) => {
    for (const file of files) {
      await tx.unsafe(file.sql).catch((e) => {
        throw new Error(`supabase/schemas/${file.name}: ${e.message}`);
      });
    }
  });
}

// An ACL as sorted aclitems, or "default" for none (the object's default privileges).
const acl = (column: string) =>
  `case when ${column} is null then 'default' else array_to_string(array(select a::text from unnest(${column}) a order by 1), ',') end`;

// The schemas this project owns; supabase_migrations (the migration history) and the schemas of
// extensions such as cron are not part of the schema.
const OWN = `n.nspname in ('public', 'internal', 'extensions')`;

/**
 * Every object of the project's schemas as `key → definition`, in a form that does not depend on
 * how the object came to be (creation order, OIDs, ALTERs): schemas and their privileges,
 * extensions, tables, views, sequences and composite types with their privileges and row level
 * security, columns in order with type, nullability, default and identity, constraints (of tables
 * and domains), indexes, view definitions, domains, functions as pg_get_functiondef writes them
 * (body, volatility, security definer and every SET setting) with their privileges, triggers,
 * policies and default privileges; and the rows the schema holds (the currencies), as a hash.
 */
export async function catalog(sql: postgres.Sql): Promise<Map<string, string>> {
  const rows = await sql.unsafe<{ key: string; def: string }[]>(`
    select 'schema ' || n.nspname as key, ${acl("n.nspacl")} as def
    from pg_namespace n where ${OWN}
    union all
    select 'extension ' || e.extname, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname <> 'plpgsql'
    union all
    select 'relation ' || n.nspname || '.' || c.relname, concat_ws(' ', 'kind=' || c.relkind::text,
      'acl=' || ${acl("c.relacl")},
      'rls=' || c.relrowsecurity, 'force_rls=' || c.relforcerowsecurity, 'options=' || coalesce(array_to_string(c.reloptions, ','), ''))
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where ${OWN} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'c', 'f')
    union all
    select 'column ' || n.nspname || '.' || c.relname || '.' || lpad(a.attnum::text, 3, '0') || ' ' || a.attname,
      concat_ws(' ', format_type(a.atttypid, a.atttypmod), case when a.attnotnull then 'not null' end,
        'default ' || pg_get_expr(d.adbin, d.adrelid), case a.attidentity when 'a' then 'identity always'
        when 'd' then 'identity by default' end, case when a.attgenerated = 's' then 'generated' end,
        case when a.attcollation <> 0 and a.attcollation <> t.typcollation then 'collate ' || a.attcollation::regcollation::text end)
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    join pg_type t on t.oid = a.atttypid
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where ${OWN} and c.relkind in ('r', 'p', 'v', 'm', 'c', 'f') and a.attnum > 0 and not a.attisdropped
    union all
    select 'constraint ' || n.nspname || '.' || coalesce(c.relname, t.typname) || '.' || k.conname,
      pg_get_constraintdef(k.oid) || case when k.condeferrable then ' deferrable' else '' end
    from pg_constraint k join pg_namespace n on n.oid = k.connamespace
    left join pg_class c on c.oid = k.conrelid left join pg_type t on t.oid = k.contypid
    where ${OWN}
    union all
    select 'index ' || n.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_namespace n on n.oid = i.relnamespace
    where ${OWN}
    union all
    select 'view ' || n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where ${OWN} and c.relkind in ('v', 'm')
    union all
    select 'type ' || n.nspname || '.' || t.typname, concat_ws(' ', 'kind=' || t.typtype::text,
      case when t.typtype = 'd' then 'base=' || format_type(t.typbasetype, t.typtypmod) end,
      case when t.typnotnull then 'not null' end, 'default ' || t.typdefault,
      case when t.typtype = 'e' then 'labels=' || array_to_string(array(select e.enumlabel from pg_enum e
        where e.enumtypid = t.oid order by e.enumsortorder), ',') end,
      'acl=' || ${acl("t.typacl")})
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where ${OWN} and t.typtype in ('d', 'e', 'r') or (${OWN} and t.typtype = 'c'
      and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
    union all
    select 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) || E'\\nacl=' || ${
    acl("p.proacl")
  }
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace where ${OWN} and p.prokind in ('f', 'p')
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    union all
    select 'trigger ' || n.nspname || '.' || c.relname || '.' || g.tgname, pg_get_triggerdef(g.oid)
    from pg_trigger g join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where ${OWN} and not g.tgisinternal
    union all
    select 'policy ' || p.schemaname || '.' || p.tablename || '.' || p.policyname,
      concat_ws(' ', p.permissive, p.cmd, 'to ' || array_to_string(p.roles, ','), 'using ' || p.qual,
        'check ' || p.with_check)
    from pg_policies p where p.schemaname in ('public', 'internal', 'extensions')
    union all
    select 'default privileges for ' || pg_get_userbyid(d.defaclrole) || ' in ' || coalesce(n.nspname, 'every schema')
      || ' on ' || d.defaclobjtype::text, ${acl("d.defaclacl")}
    from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace
    union all
    select 'rows public.currencies', (select md5(string_agg(c::text, ',' order by c.code)) from public.currencies c)
    where to_regclass('public.currencies') is not null
  `);
  return new Map(rows.map((r) => [r.key, r.def]));
}

/** The difference of two catalogs, one block per object, or "" when they are the same. */
export function catalogDiff(from: Map<string, string>, to: Map<string, string>): string {
  const out: string[] = [];
  const keys = [...new Set([...from.keys(), ...to.keys()])].sort();
  for (const key of keys) {
    const [a, b] = [from.get(key), to.get(key)];
    if (a === b) continue;
    if (a === undefined) out.push(`+ ${key}\n${indent(b!, "+ ")}`);
    else if (b === undefined) out.push(`- ${key}\n${indent(a, "- ")}`);
    else {
      const [al, bl] = [a.split("\n"), b.split("\n")];
      const lines = [
        ...al.filter((l) => !bl.includes(l)).map((l) => `-   ${l}`),
        ...bl.filter((l) => !al.includes(l)).map((l) => `+   ${l}`),
      ];
      out.push(`~ ${key}\n${lines.join("\n")}`);
    }
  }
  return out.join("\n");
}

function indent(text: string, prefix: string): string {
  return text.split("\n").map((l) => `${prefix}  ${l}`).join("\n");
}

/** The SQL migra writes to turn the database at `fromUrl` into the one at `toUrl` ("" for none). */
export async function migraSql(fromUrl: string, toUrl: string): Promise<string> {
  // Its client (pg-promise) warns on every call after the first that it connects to a database it
  // already knows; that is expected here.
  // (It prints the warning with console.log.)
  const log = console.log;
  console.log = (...args: unknown[]) => {
    if (!String(args[0]).includes("duplicate database object")) log(...args);
  };
  try {
    const migration = await migra(fromUrl, toUrl, {
      unsafe: true,
      withPrivileges: true,
      excludeSchema: ["supabase_migrations", "cron"],
    });
    return migration.sql.trim();
  } finally {
    console.log = log;
  }
}

/**
 * What migra 0.6.1 leaves out, from the catalogs: a function's SET settings (search_path, jit,
 * plan_cache_mode) when its body is unchanged, a function's EXECUTE privileges (granted or
 * revoked; a new function's too, which Postgres creates executable by PUBLIC), a view's
 * privileges, and a changed view's options (security_invoker), which migra's create or replace
 * view resets. Default privileges and rows are not written: `differences` lists them for a
 * person to write.
 */
export function completion(from: Map<string, string>, to: Map<string, string>): { sql: string; differences: string[] } {
  const statements: string[] = [];
  const differences: string[] = [];
  for (const [key, def] of to) {
    const before = from.get(key);
    if (before === def) continue;
    if (key.startsWith("function ")) {
      const signature = key.slice("function ".length);
      const [body, acl] = def.split("\nacl=");
      const [oldBody, oldAcl] = before === undefined ? [undefined, undefined] : before.split("\nacl=");
      const settings = settingsOf(body);
      if (oldBody !== undefined && settingsOf(oldBody).join() !== settings.join()) {
        statements.push(`alter function ${signature} reset all;`);
        for (const s of settings) statements.push(`alter function ${signature} set ${s};`);
      }
      // A new function with the default privileges needs nothing.
      if (acl !== oldAcl && !(oldAcl === undefined && acl === "default")) {
        statements.push(...privileges(`function ${signature}`, "execute", acl));
      }
    } else if (key.startsWith("relation ") && def.includes("kind=v")) {
      const acl = /acl=(\S*)/.exec(def)![1];
      const oldAcl = /acl=(\S*)/.exec(before ?? "")?.[1];
      if (acl !== oldAcl && !(oldAcl === undefined && acl === "default")) {
        statements.push(...privileges(`table ${key.slice("relation ".length)}`, null, acl));
      }
    } else if (key.startsWith("view ")) {
      // migra writes a changed view as create or replace view without its options, which resets them.
      const name = key.slice("view ".length);
      const options = /options=(\S+)/.exec(to.get(`relation ${name}`) ?? "")?.[1];
      if (options) statements.push(`alter view ${name} set (${options.replaceAll(",", ", ")});`);
    } else if (key.startsWith("default privileges ") || key.startsWith("rows ")) {
      differences.push(`${key}: ${before ?? "(none)"} → ${def}`);
    }
  }
  for (const key of from.keys()) {
    if (key.startsWith("default privileges ") && !to.has(key)) differences.push(`${key}: ${from.get(key)} → (none)`);
  }
  return { sql: statements.join("\n"), differences };
}

// The SET clauses of a pg_get_functiondef text, as `name = value` ("SET jit TO 'off'").
function settingsOf(functionDef: string): string[] {
  return [...functionDef.matchAll(/^ SET (\S+) TO (.*)$/gm)].map((m) => `${m[1]} = ${m[2]}`);
}

// Statements that give `object` exactly the privileges of `acl` ("default" or aclitems): revoke
// everything from every role Supabase grants to, then grant each entry that is not the owner's.
function privileges(object: string, only: string | null, acl: string): string[] {
  const out = [`revoke all on ${object} from public, anon, authenticated, service_role;`];
  if (acl === "default") return only ? [`grant ${only} on ${object} to public;`] : [];
  // Every entry's grantor is the owner.
  const owner = acl.split(",")[0].split("/")[1];
  for (const item of acl.split(",")) {
    const [grantee, rest] = item.split("=");
    if (grantee === owner) continue;
    const rights = rest.split("/")[0];
    const names = only ? [only] : [...rights].map((r) => RIGHTS[r]).filter(Boolean);
    out.push(`grant ${names.join(", ")} on ${object} to ${grantee === "" ? "public" : grantee};`);
  }
  return out;
}

const RIGHTS: Record<string, string> = {
  r: "select",
  a: "insert",
  w: "update",
  d: "delete",
  D: "truncate",
  x: "references",
  t: "trigger",
};
