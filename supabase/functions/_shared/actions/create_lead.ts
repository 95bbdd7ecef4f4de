import { rpcAction } from "../action.ts";
import { leadSchema } from "../lead_fields.ts";
import { uuid } from "../validation.ts";

/** create_lead: a lead on a channel of the key's company, with its event, rewards and webhook. */
export const create_lead = rpcAction("create_lead", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: leadSchema({ channel_id: uuid("channel_id", { required: true }) }, { nullable: false }),
});
