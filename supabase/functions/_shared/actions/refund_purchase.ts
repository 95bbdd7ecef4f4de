import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { externalId, money, text, uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** refund_purchase: records a refund and reverses the purchase's rewards in one transaction. */
export const refund_purchase = rpcAction("refund_purchase", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    purchase_id: uuid("purchase_id", { required: true }).describe("The purchase to refund"),
    amount: money("amount").describe("Amount to refund; default all that is not yet refunded"),
    reason: text("reason").describe("Why the purchase is refunded"),
    external_id: externalId("external_id").describe(
      "The payment provider's refund id, unique per purchase: a repeat answers 409",
    ),
  }).superRefine((args, ctx) => {
    // An explicit zero would record a refund that refunds nothing.
    if (typeof args.amount === "string" && /^0*(\.0*)?$/.test(args.amount)) {
      ctx.addIssue({ code: "custom", message: "amount must be greater than 0" });
    }
  }),
  doc: {
    resource: "purchases",
    summary: "Records a refund of a purchase and reverses its rewards with negative reward events.",
    response: object({ refund: ref("Refund"), reward_events: { type: "array", items: ref("RewardEventDetailed") } }),
    errors: [
      { status: 400, code: "invalid_request", message: "amount must be greater than 0" },
      { status: 403, code: "purchase_not_accessible", message: "Purchase not accessible" },
      {
        status: 403,
        code: "purchase_not_permitted",
        message: "Only the receiving company can record purchases on this channel",
      },
      { status: 400, code: "refund_exceeds_refundable", message: "Refund exceeds refundable amount" },
      {
        status: 409,
        code: "duplicate_external_id",
        message: "Refund already recorded: <external_id>",
        fields: {
          refund_id: { type: "string", format: "uuid", description: "The refund recorded with this external_id" },
        },
      },
    ],
    rule: {
      description: "amount must be greater than 0",
      properties: {
        amount: { not: { anyOf: [{ type: "number", maximum: 0 }, { type: "string", pattern: "^0*(\\.0*)?$" }] } },
      },
    },
    example: {
      purchase_id: "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
      amount: "49.99",
      reason: "Downgraded to the basic plan",
    },
  },
});
