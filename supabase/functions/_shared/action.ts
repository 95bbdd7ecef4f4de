import type { z } from "zod/v4";
import { type Db, rpcValue } from "./db.ts";
import { compactJson } from "./exact_json.ts";
import type { Idempotency } from "./idempotency.ts";
import type { JsonSchema } from "./validation.ts";

/** What an action's run receives: the database, the caller's key hash (auth actions), the validated body, when an Idempotency-Key was sent, the key and fingerprint, and the client's address as the intake limit counts it (client_address.ts), worked out only when an action asks (lead_external). */
export interface ActionContext {
  db: Db;
  keyHash: string | null;
  args: Record<string, unknown>;
  idempotency: Idempotency | null;
  client: () => string;
}

/** What an action answers: the body as JSON text, and whether it is a stored response replayed for an Idempotency-Key. */
export interface ActionResult {
  body: string;
  replayed: boolean;
}

/** A registry entry: how to validate the body, whether an API key is needed, whether it takes an Idempotency-Key (the authenticated writes), and what to run. */
export interface Action {
  auth: boolean;
  idempotent: boolean;
  /** Whether a success may have queued webhook deliveries, to be delivered after the response. */
  queuesWebhooks?: boolean;
  schema: z.ZodType<Record<string, unknown>>;
  run(ctx: ActionContext): Promise<ActionResult>;
  /** What the OpenAPI document adds to what it reads from the schema; an action without it still appears there. */
  doc?: ActionDoc;
}

/** An error an action answers, as the OpenAPI document lists it; `<id>`-like parts stand for values. */
export interface ErrorDoc {
  status: number;
  code: string;
  message: string;
  /** Further members of the error body, after request_id (a 409 duplicate's recorded id). */
  fields?: Record<string, JsonSchema>;
}

/** The resources the OpenAPI document groups the actions' operations by (one tag each). */
export const RESOURCES = ["leads", "purchases", "rewards", "payouts", "channels", "stripe"] as const;

/** A resource of RESOURCES. */
export type Resource = typeof RESOURCES[number];

/** How the OpenAPI document describes an action beyond its fields (see openapi/document.ts). */
export interface ActionDoc {
  /** The resource whose tag the action's own operation (`…/openapi-operations/<action>`) is listed under. */
  resource: Resource;
  /** One sentence: what the action does. */
  summary: string;
  /** The success body; tests/openapi_reality_test.ts checks real answers against it. */
  response?: JsonSchema;
  /**
   * Errors of the action beyond the checks of docs/errors.md ("The order of the checks") and its fields' own messages
   * (listed from the fields).
   */
  errors?: ErrorDoc[];
  /** A rule across fields that the schema checks in superRefine, as JSON Schema (added with allOf). */
  rule?: JsonSchema;
  /** A realistic request body, without `action`. */
  example?: Record<string, unknown>;
}

/**
 * An action that is exactly one call of the SQL function of the same name, which does
 * authentication, access checks and every write in one transaction. With an Idempotency-Key
 * the one call goes through `public.idempotent`, which runs that same function at most once
 * per key in the same transaction.
 */
export function rpcAction(
  name: string,
  options: Pick<Action, "auth" | "idempotent" | "queuesWebhooks" | "schema" | "doc">,
): Action {
  return {
    ...options,
    async run({ db, keyHash, args, idempotency }) {
      if (!idempotency) {
        const text = await db.rpc(name, options.auth ? { key_hash: keyHash, args } : { args });
        return { body: compactJson(text), replayed: false };
      }
      const result = await rpcValue<{ replayed: boolean; body: unknown }>(db, "idempotent", {
        key_hash: keyHash,
        action: name,
        args,
        idempotency_key: idempotency.key,
        fingerprint: idempotency.fingerprint,
      });
      return { body: JSON.stringify(result.body), replayed: result.replayed };
    },
  };
}
