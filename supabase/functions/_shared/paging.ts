import type { ErrorDoc } from "./action.ts";
import { integer, text } from "./validation.ts";

/** The paging fields every listing takes: `limit` (1-100, default 100) and the opaque `cursor`. */
export function pageFields() {
  return {
    limit: integer("limit", 1, 100).describe("Page size, default 100"),
    cursor: text("cursor").describe("next_cursor of the previous page"),
  };
}

/** The answer to a cursor that is not one the server wrote. */
export const CURSOR_INVALID: ErrorDoc = { status: 400, code: "invalid_request", message: "cursor is invalid" };
