import { rpcAction } from "../action.ts";
import { leadSchema } from "../lead_fields.ts";
import { uuid } from "../validation.ts";

/** lead_external: the public lead intake of a channel with no_auth_api; no API key. */
export const lead_external = rpcAction("lead_external", {
  auth: false,
  idempotent: false,
  schema: leadSchema({
    channel_id: uuid("channel_id", { required: true }).describe("The channel's id or public uuid"),
  }, { nullable: false }),
});
