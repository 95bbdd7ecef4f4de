import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";
import { text, uuid } from "../validation.ts";

/** mark_payout_paid: records that a pending payout was paid; its reward events become paid. */
export const mark_payout_paid = rpcAction("mark_payout_paid", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    payout_id: uuid("payout_id", { required: true }).describe("The payout"),
    reference: text("reference", { required: true }).describe("The bank's or payment provider's id of the payment"),
  }),
  doc: {
    resource: "payouts",
    summary: "The receiving company records a pending payout as paid; its reward events become paid.",
    response: object({ payout: ref("Payout") }),
    errors: [
      { status: 403, code: "payout_not_accessible", message: "Payout not accessible" },
      { status: 403, code: "not_permitted", message: "Only the receiving company can do this on this channel" },
      { status: 409, code: "payout_already_paid", message: "Payout already paid" },
      { status: 409, code: "payout_cancelled", message: "Payout cancelled" },
    ],
    example: { payout_id: "5d6e7f8a-9b0c-4d1e-a2f3-b4c5d6e7f8a9", reference: "SEPA-2025-04-30-000172" },
  },
});
