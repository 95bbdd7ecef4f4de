import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { integer } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_lead_by_legacy_id: one lead by its integer legacy id. */
export const get_lead_by_legacy_id = rpcAction("get_lead_by_legacy_id", {
  auth: true,
  idempotent: false,
  schema: z.object({
    legacy_id: integer("legacy_id", 1, Number.MAX_SAFE_INTEGER, { required: true }),
  }),
  doc: {
    resource: "leads",
    summary: "One lead by its integer legacy id, with its status.",
    response: object({ lead: ref("LeadWithStatus") }),
    errors: [{ status: 403, code: "lead_not_accessible", message: "Lead not accessible" }],
    example: { legacy_id: 1042 },
  },
});
