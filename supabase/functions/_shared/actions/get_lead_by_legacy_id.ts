import { z } from "zod";
import { rpcAction } from "../action.ts";
import { integer } from "../validation.ts";

/** get_lead_by_legacy_id: one lead by its integer legacy id. */
export const get_lead_by_legacy_id = rpcAction("get_lead_by_legacy_id", {
  auth: true,
  idempotent: false,
  schema: z.object({
    legacy_id: integer("legacy_id", 1, Number.MAX_SAFE_INTEGER, { required: true }),
  }),
});
