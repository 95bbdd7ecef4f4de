import { z } from "zod";
import { rpcAction } from "../action.ts";
import { money, text, uuid } from "../validation.ts";

/** refund_purchase: records a refund and reverses the purchase's rewards in one transaction. */
export const refund_purchase = rpcAction("refund_purchase", {
  auth: true,
  idempotent: true,
  schema: z.object({
    purchase_id: uuid("purchase_id", { required: true }).describe("The purchase to refund"),
    amount: money("amount").describe("Amount to refund; default all that is not yet refunded"),
    reason: text("reason").describe("Why the purchase is refunded"),
  }).superRefine((args, ctx) => {
    // An explicit zero would record a refund that refunds nothing.
    if (typeof args.amount === "string" && /^0*(\.0*)?$/.test(args.amount)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "amount must be greater than 0" });
    }
  }),
});
