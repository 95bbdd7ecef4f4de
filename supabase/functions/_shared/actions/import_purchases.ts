import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { externalId, rows, uuid } from "../validation.ts";
import { object, ref } from "../openapi/shapes.ts";
import { createPurchaseSchema } from "./create_purchase.ts";

/** Most rows of one import_purchases request. */
export const MAX_IMPORT_ROWS = 1000;

/** One row of import_purchases: create_purchase's fields, external_id required. */
const importRowSchema = createPurchaseSchema.extend({
  external_id: externalId("external_id", { required: true }).describe(
    "The sale's id in your system (order, invoice, payment); a row whose external_id is already recorded is a duplicate",
  ),
});

const ERROR_CODE = {
  type: "string",
  description:
    "The code create_purchase would answer: invalid_request for a validation error, or lead_not_accessible, " +
    "product_not_owned, trigger_not_found",
};

/** import_purchases: up to 1,000 purchases of one channel, each recorded or refused on its own, in one transaction. */
export const import_purchases = rpcAction("import_purchases", {
  auth: true,
  idempotent: true,
  queuesWebhooks: true,
  schema: z.object({
    channel_id: uuid("channel_id", { required: true }).describe("The channel every row's lead is on"),
    purchases: rows("purchases", MAX_IMPORT_ROWS, importRowSchema).describe(
      `1 to ${MAX_IMPORT_ROWS} rows of create_purchase's fields, each with external_id`,
    ),
  }),
  doc: {
    resource: "purchases",
    summary: "Records up to 1,000 purchases of one channel, each row recorded or refused on its own; a row whose " +
      "external_id is already recorded is a duplicate, so re-sending a file is safe.",
    response: object({
      results: {
        type: "array",
        description: "One result per row, in row order",
        items: {
          type: "object",
          required: ["index", "status"],
          additionalProperties: false,
          properties: {
            index: { type: "integer", minimum: 0, description: "The row's position in purchases, from 0" },
            status: { enum: ["created", "duplicate", "error"] },
            purchase_id: {
              type: "string",
              format: "uuid",
              description: "created: the new purchase; duplicate: the purchase already recorded with the external_id",
            },
            reward_events: { type: "array", items: ref("RewardEvent"), description: "created: the rewards it earned" },
            error: { type: "string", description: "error: create_purchase's exact message for this row" },
            code: ERROR_CODE,
          },
        },
      },
      created: { type: "integer", minimum: 0 },
      duplicates: { type: "integer", minimum: 0 },
      errors: { type: "integer", minimum: 0 },
    }),
    errors: [
      { status: 403, code: "channel_not_accessible", message: "Channel not accessible" },
      {
        status: 403,
        code: "purchase_not_permitted",
        message: "Only the receiving company can record purchases on this channel",
      },
    ],
    example: {
      channel_id: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
      purchases: [
        {
          lead_id: "3f6b8f1e-2a4c-4d5e-8b7a-9c0d1e2f3a4b",
          external_id: "order-10045",
          purchase_amount: "249.99",
          date: "2025-04-01T09:30:00Z",
          product_name: "Pro plan",
        },
      ],
    },
  },
});
