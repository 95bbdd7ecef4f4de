import type { z } from "zod";
import type { Db } from "./db.ts";

/** What an action's run receives: the database, the caller's key hash (auth actions) and the validated body. */
export interface ActionContext {
  db: Db;
  keyHash: string | null;
  args: Record<string, unknown>;
}

/** A registry entry: how to validate the body, whether an API key is needed, and what to run. */
export interface Action {
  auth: boolean;
  schema: z.ZodType<Record<string, unknown>, z.ZodTypeDef, unknown>;
  run(ctx: ActionContext): Promise<unknown>;
}

/**
 * An action that is exactly one call of the SQL function of the same name, which does
 * authentication, access checks and every write in one transaction.
 */
export function rpcAction(
  name: string,
  options: { auth: boolean; schema: Action["schema"] },
): Action {
  return {
    ...options,
    run: ({ db, keyHash, args }) => db.rpc(name, options.auth ? { key_hash: keyHash, args } : { args }),
  };
}
