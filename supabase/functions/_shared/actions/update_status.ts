import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { text, uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

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
  doc: {
    resource: "leads",
    summary: "Moves a lead to the status of that name on its channel: event, status rewards and webhook.",
    response: object({ lead: ref("LeadStatusChange") }),
    errors: [
      { status: 403, code: "lead_not_accessible", message: "Lead not accessible" },
      { status: 404, code: "status_not_found", message: 'Status "<name>" not found for this channel' },
    ],
    example: { lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b", status: "Qualified" },
  },
});
