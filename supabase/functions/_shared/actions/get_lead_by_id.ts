import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_lead_by_id: one lead by id. */
export const get_lead_by_id = rpcAction("get_lead_by_id", {
  auth: true,
  idempotent: false,
  schema: z.object({ lead_id: uuid("lead_id", { required: true }) }),
  doc: {
    resource: "leads",
    summary: "One lead by its id, with its status.",
    response: object({ lead: ref("LeadWithStatus") }),
    errors: [{ status: 403, code: "lead_not_accessible", message: "Lead not accessible" }],
    example: { lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b" },
  },
});
