import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { text, uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** dismiss_sale: takes an unmatched sale from Stripe off the list without recording it (receiving company only). */
export const dismiss_sale = rpcAction("dismiss_sale", {
  auth: true,
  idempotent: true,
  schema: z.object({
    unmatched_sale_id: uuid("unmatched_sale_id", { required: true }).describe("The unmatched sale"),
    reason: text("reason", { required: true }).describe("Why it is not a partner's sale"),
  }),
  doc: {
    resource: "stripe",
    summary: "Takes an unmatched sale from Stripe off the list without recording a purchase; dismissing it again " +
      "answers the same.",
    response: object({ unmatched_sale: ref("UnmatchedSale") }),
    errors: [
      { status: 404, code: "unmatched_sale_not_found", message: "Unmatched sale not found" },
      { status: 409, code: "sale_attached", message: "Sale was attached" },
    ],
    example: { unmatched_sale_id: "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", reason: "A test payment" },
  },
});
