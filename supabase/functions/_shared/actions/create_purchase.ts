import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { externalId, money, text, timestamp, uuid, uuidArray } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";

/** Body of create_purchase: both request generations (product_id/description and product_name/product_description/trigger_ids). */
export const createPurchaseSchema = z.object({
  lead_id: uuid("lead_id", { required: true }).describe("The lead to record the purchase against"),
  product_id: uuid("product_id").describe("A product of your company's catalog"),
  purchase_amount: money("purchase_amount").describe("The amount in the channel's currency"),
  date: timestamp("date").describe("When the purchase happened; default now"),
  description: text("description").describe("A description of the purchase"),
  product_name: text("product_name").describe("Free-text product name, stored as the purchase name"),
  product_description: text("product_description").describe(
    "Stored as the description when description is not sent",
  ),
  trigger_ids: uuidArray("trigger_ids", 100).describe(
    "Fire only these purchase triggers of the channel; [] fires none",
  ),
  external_id: externalId("external_id").describe(
    "The sale's id in your system (order, invoice, payment intent), unique per company: a repeat answers 409",
  ),
});

/** The 409 of a purchase whose external_id the company has recorded already (with the recorded purchase_id). */
export const DUPLICATE_PURCHASE = {
  status: 409,
  code: "duplicate_external_id",
  message: "Purchase already recorded: <external_id>",
  fields: {
    purchase_id: { type: "string", format: "uuid", description: "The purchase recorded with this external_id" },
  },
};

/** create_purchase: records a purchase, its event and its rewards in one transaction. */
export const create_purchase = rpcAction("create_purchase", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: createPurchaseSchema,
  doc: {
    resource: "purchases",
    summary: "Records a purchase of a lead, its event and the rewards its triggers earn, in one transaction.",
    response: object({ purchase: ref("Purchase"), reward_events: { type: "array", items: ref("RewardEvent") } }),
    errors: [
      { status: 403, code: "lead_not_accessible", message: "Lead not accessible" },
      {
        status: 403,
        code: "purchase_not_permitted",
        message: "Only the receiving company can record purchases on this channel",
      },
      { status: 403, code: "product_not_owned", message: "Product not found or not owned by your company" },
      { status: 400, code: "trigger_not_found", message: "Trigger not found or not active on this channel: <id>" },
      DUPLICATE_PURCHASE,
    ],
    example: {
      lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
      product_id: "7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f",
      purchase_amount: 12500,
      date: "2025-04-01T00:00:00.000Z",
      description: "Annual subscription",
    },
  },
});
