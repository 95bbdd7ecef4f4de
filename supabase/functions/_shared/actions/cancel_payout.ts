import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { object, ref } from "../openapi/shapes.ts";
import { uuid } from "../validation.ts";

/** cancel_payout: cancels a pending payout; its reward events are approved and payable again. */
export const cancel_payout = rpcAction("cancel_payout", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    payout_id: uuid("payout_id", { required: true }).describe("The payout"),
  }),
  doc: {
    resource: "payouts",
    summary: "The receiving company cancels a pending payout; its reward events are approved again.",
    response: object({ payout: ref("Payout") }),
    errors: [
      { status: 403, code: "payout_not_accessible", message: "Payout not accessible" },
      { status: 403, code: "not_permitted", message: "Only the receiving company can do this on this channel" },
      { status: 409, code: "payout_already_paid", message: "Payout already paid" },
      { status: 409, code: "payout_cancelled", message: "Payout cancelled" },
    ],
    example: { payout_id: "5d6e7f8a-9b0c-4d1e-a2f3-b4c5d6e7f8a9" },
  },
});
