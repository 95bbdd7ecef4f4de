import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** attach_sale: records an unmatched sale from Stripe as a purchase of a lead (receiving company only). */
export const attach_sale = rpcAction("attach_sale", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    unmatched_sale_id: uuid("unmatched_sale_id", { required: true }).describe("The unmatched sale"),
    lead_id: uuid("lead_id", { required: true }).describe("The lead of the sale's channel it is a purchase of"),
  }),
  doc: {
    resource: "stripe",
    summary: "Records an unmatched sale from Stripe as a purchase of a lead, with the refunds that waited for it; " +
      "attaching it again answers the same.",
    response: object({ unmatched_sale: ref("UnmatchedSale") }),
    errors: [
      { status: 404, code: "unmatched_sale_not_found", message: "Unmatched sale not found" },
      { status: 403, code: "lead_not_accessible", message: "Lead not accessible" },
      { status: 409, code: "sale_dismissed", message: "Sale was dismissed" },
      { status: 409, code: "sale_currency", message: "Sale is not in the channel's currency" },
      { status: 409, code: "sale_unknown_shape", message: "Sale has no amount" },
    ],
    example: {
      unmatched_sale_id: "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
      lead_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    },
  },
});
