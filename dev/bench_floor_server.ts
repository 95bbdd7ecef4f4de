// The floor of `deno task bench --action compare`: the function's HTTP server and database
// adapter with no handler between them. Deno.serve reads the body and answers the JSON text of
// one create_purchase call through createPostgresDb (the deployed adapter: postgres.js, same
// pool, prepared statement, deadline), for the request fixed at start; no action lookup, key
// hash, validation, CORS or request id. Whatever the server costs above this is the handler's.
// Env: DATABASE_URL, PORT, DATABASE_POOL_SIZE, KEY_HASH, REQUEST (the JSON arguments).
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";

const env = (name: string) => {
  const value = Deno.env.get(name);
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const db = createPostgresDb(env("DATABASE_URL"), { max: Number(env("DATABASE_POOL_SIZE")) });
const args = { key_hash: env("KEY_HASH"), args: JSON.parse(env("REQUEST")) };
const headers = { "Content-Type": "application/json" };

const server = Deno.serve({ hostname: "127.0.0.1", port: Number(env("PORT")), onListen: () => {} }, async (req) => {
  await req.arrayBuffer();
  return new Response(await db.rpc("create_purchase", args), { headers });
});
console.log("listening");
Deno.addSignalListener("SIGINT", async () => {
  await server.shutdown();
  await db.close();
  Deno.exit(0);
});
