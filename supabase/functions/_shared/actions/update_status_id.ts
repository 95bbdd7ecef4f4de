import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

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
  doc: {
    resource: "leads",
    summary: "Moves a lead to a status of its channel by the status id, as update_status does.",
    response: object({ lead: ref("LeadStatusChange") }),
    errors: [{ status: 403, code: "lead_not_accessible", message: "Lead not accessible" }, {
      status: 404,
      code: "status_not_found",
      message: "Status ID not found",
    }],
    example: {
      lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
      status_id: "6a7b8c9d-0e1f-4a2b-b3c4-d5e6f7a8b9c0",
      old_status_id: "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e",
    },
  },
});
