import { z } from "zod";
import { rpcAction } from "../action.ts";
import { text, uuid } from "../validation.ts";

const REQUIRED = { required: true, requiredMessage: "lead_id and status required" };

/** update_status: moves a lead to the status of that name on its channel. */
export const update_status = rpcAction("update_status", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    lead_id: uuid("lead_id", REQUIRED),
    status: text("status", REQUIRED).describe("A status name of the lead's channel"),
    old_status_id: uuid("old_status_id").describe("Recorded on the event only"),
  }),
});
