import { z } from "zod";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";

/** get_lead_by_id: one lead by id. */
export const get_lead_by_id = rpcAction("get_lead_by_id", {
  auth: true,
  idempotent: false,
  schema: z.object({ lead_id: uuid("lead_id", { required: true }) }),
});
