import { z } from "zod/v4";
import { rpcAction } from "../action.ts";
import { CURSOR_INVALID, pageFields } from "../paging.ts";
import { object, ref } from "../openapi/shapes.ts";

/** get_unmatched_sales: the sales from Stripe that wait for a lead, on the channels the company receives for. */
export const get_unmatched_sales = rpcAction("get_unmatched_sales", {
  auth: true,
  idempotent: false,
  schema: z.object({ ...pageFields() }),
  doc: {
    resource: "stripe",
    summary: "The sales from Stripe that could not be recorded (no lead, several leads, another currency, a shape " +
      "not understood), newest first, on the channels the company receives for.",
    response: object({
      unmatched_sales: { type: "array", items: ref("UnmatchedSale") },
      next_cursor: ref("NextCursor"),
    }),
    errors: [CURSOR_INVALID],
    example: { limit: 20 },
  },
});
