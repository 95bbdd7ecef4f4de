import { z } from "zod";
import { rpcAction } from "../action.ts";
import { text, uuid } from "../validation.ts";

/** mark_payout_paid: records that a pending payout was paid; its reward events become paid. */
export const mark_payout_paid = rpcAction("mark_payout_paid", {
  auth: true,
  idempotent: true,
  schema: z.object({
    payout_id: uuid("payout_id", { required: true }).describe("The payout"),
    reference: text("reference", { required: true }).describe("The bank's or payment provider's id of the payment"),
  }),
});
