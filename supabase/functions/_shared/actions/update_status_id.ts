import { z } from "zod";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";

const REQUIRED = { required: true, requiredMessage: "lead_id and status_id required" };

/** update_status_id: moves a lead to a status of its channel, by id. */
export const update_status_id = rpcAction("update_status_id", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    lead_id: uuid("lead_id", REQUIRED),
    status_id: uuid("status_id", REQUIRED).describe("A status id of the lead's channel"),
    old_status_id: uuid("old_status_id").describe("Recorded on the event only"),
  }),
});
