import { dbFromEnv } from "../_shared/db_from_env.ts";
import { createHandler } from "../_shared/handler.ts";

const handler = createHandler({ db: dbFromEnv((name) => Deno.env.get(name)) });

Deno.serve(handler);
