import type { Action } from "../action.ts";
import { leadSchema } from "../lead_fields.ts";
import { uuid } from "../validation.ts";

/**
 * lead_external: the public lead intake of a channel with no_auth_api; no API key. The one call
 * of public.lead_external also carries the client's address, which its per-minute limit counts.
 */
export const lead_external: Action = {
  auth: false,
  idempotent: false,
  schema: leadSchema({
    channel_id: uuid("channel_id", { required: true }).describe("The channel's id or public uuid"),
  }, { nullable: false }),
  async run({ db, args, client }) {
    return { body: await db.rpc("lead_external", { args, client }), replayed: false };
  },
};
