import type { Action } from "./action.ts";
import { create_purchase } from "./actions/create_purchase.ts";

/** Every action of the API by its `action` string. */
export const actions: Readonly<Record<string, Action>> = {
  create_purchase,
};
