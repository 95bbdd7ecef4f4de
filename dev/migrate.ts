// Applies pending migrations from supabase/migrations and records them in
// supabase_migrations.schema_migrations the way the Supabase CLI does, so `supabase db push`
// and this runner agree on what has been applied.
import type postgres from "postgres";

const MIGRATIONS_DIR = new URL("../supabase/migrations/", import.meta.url);

// The roles every Supabase project has. On plain PostgreSQL they must exist before the
// migrations run, with the same attributes as on Supabase.
export const SUPABASE_ROLES = `
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$;`;

const HISTORY_TABLE = `
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;`;

/** Migration files in order: version (the timestamp prefix), name and SQL text. */
export async function migrationFiles(): Promise<{ version: string; name: string; sql: string }[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(MIGRATIONS_DIR)) {
    if (entry.isFile && /^\d+_.+\.sql$/.test(entry.name)) files.push(entry.name);
  }
  files.sort();
  return await Promise.all(files.map(async (file) => {
    const [, version, name] = /^(\d+)_(.+)\.sql$/.exec(file)!;
    return { version, name, sql: await Deno.readTextFile(new URL(file, MIGRATIONS_DIR)) };
  }));
}

/** Creates the Supabase roles if missing and applies pending migrations, each in its own transaction. Returns the versions applied. */
export async function migrate(sql: postgres.Sql): Promise<string[]> {
  await sql.unsafe(SUPABASE_ROLES);
  await sql.unsafe(HISTORY_TABLE);
  const files = await migrationFiles();
  const known = new Set(files.map((f) => f.version));
  const foreign = (await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations
    order by version`).map((r) => r.version).filter((v) => !known.has(v));
  if (foreign.length) {
    throw new Error(
      `This database was migrated with migrations that supabase/migrations no longer has (${foreign.join(", ")}); ` +
        `they were squashed into one baseline. Reset the local database: stop the server and delete its DATA_DIR ` +
        `(default .data/), see docs/operations.md, "Changing the database".`,
    );
  }
  const applied: string[] = [];
  for (const file of files) {
    const done = await sql.begin(async (tx) => {
      // Serialises concurrent runners (server and admin CLI started together).
      await tx`select pg_advisory_xact_lock(hashtext('supabase_migrations'))`;
      const [row] = await tx`select 1 from supabase_migrations.schema_migrations where version = ${file.version}`;
      if (row) return false;
      await tx.unsafe(file.sql);
      await tx`insert into supabase_migrations.schema_migrations (version, name, statements)
        values (${file.version}, ${file.name}, ${[file.sql]})`;
      return true;
    });
    if (done) applied.push(file.version);
  }
  return applied;
}
