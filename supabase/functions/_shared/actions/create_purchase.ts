import { z } from "zod";
import { rpcAction } from "../action.ts";
import { money, text, timestamp, uuid, uuidArray } from "../validation.ts";

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
});

/** create_purchase: records a purchase, its event and its rewards in one transaction. */
export const create_purchase = rpcAction("create_purchase", {
  auth: true,
  idempotent: true,
  schema: createPurchaseSchema,
});
