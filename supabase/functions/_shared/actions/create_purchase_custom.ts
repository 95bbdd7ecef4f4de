import { rpcAction } from "../action.ts";
import { createPurchaseSchema } from "./create_purchase.ts";

/** create_purchase_custom: create_purchase for a free-text product (no product_id). */
export const create_purchase_custom = rpcAction("create_purchase_custom", {
  auth: true,
  idempotent: true,
  schema: createPurchaseSchema.omit({ product_id: true, description: true }),
});
