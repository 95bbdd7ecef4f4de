import { rpcAction } from "../action.ts";
import { createPurchaseSchema, DUPLICATE_PURCHASE } from "./create_purchase.ts";
import { object, ref } from "../openapi/shapes.ts";

/** create_purchase_custom: create_purchase for a free-text product (no product_id). */
export const create_purchase_custom = rpcAction("create_purchase_custom", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: createPurchaseSchema.omit({ product_id: true, description: true }),
  doc: {
    resource: "purchases",
    summary: "Records a purchase of a free-text product (no catalog product), as create_purchase does.",
    response: object({
      purchase: { ...ref("Purchase"), description: "With name" },
      reward_events: { type: "array", items: ref("RewardEvent") },
    }),
    errors: [
      { status: 403, code: "lead_not_accessible", message: "Lead not accessible" },
      {
        status: 403,
        code: "purchase_not_permitted",
        message: "Only the receiving company can record purchases on this channel",
      },
      { status: 400, code: "trigger_not_found", message: "Trigger not found or not active on this channel: <id>" },
      DUPLICATE_PURCHASE,
    ],
    example: {
      lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
      product_name: "Pro plan",
      product_description: "Monthly, billed yearly",
      purchase_amount: "249.99",
      date: "2025-04-01T09:30:00+02:00",
      trigger_ids: ["2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"],
    },
  },
});
