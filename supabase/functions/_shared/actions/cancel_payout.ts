import { z } from "zod";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";

/** cancel_payout: cancels a pending payout; its reward events are approved and payable again. */
export const cancel_payout = rpcAction("cancel_payout", {
  auth: true,
  idempotent: true,
  schema: z.object({
    payout_id: uuid("payout_id", { required: true }).describe("The payout"),
  }),
});
