import { z } from "zod";
import { rpcAction } from "../action.ts";
import { LEAD_TEXT_FIELDS, leadSchema } from "../lead_fields.ts";
import { uuid } from "../validation.ts";

/** update_lead: a partial update of a lead's fields (null clears) and a property upsert. */
export const update_lead = rpcAction("update_lead", {
  auth: true,
  idempotent: true,
  schema: leadSchema({ lead_id: uuid("lead_id", { required: true }) }, { nullable: true }).superRefine(
    (args, ctx) => {
      const changes = LEAD_TEXT_FIELDS.some((name) => args[name] !== undefined) ||
        (args.properties?.length ?? 0) > 0;
      if (!changes) ctx.addIssue({ code: z.ZodIssueCode.custom, message: "No fields to update" });
    },
  ),
});
