import type { Action } from "./action.ts";
import { create_lead } from "./actions/create_lead.ts";
import { create_purchase } from "./actions/create_purchase.ts";
import { create_purchase_custom } from "./actions/create_purchase_custom.ts";
import { get_channels } from "./actions/get_channels.ts";
import { get_lead_by_id } from "./actions/get_lead_by_id.ts";
import { get_lead_by_legacy_id } from "./actions/get_lead_by_legacy_id.ts";
import { get_leads } from "./actions/get_leads.ts";
import { get_purchases } from "./actions/get_purchases.ts";
import { get_reward_events } from "./actions/get_reward_events.ts";
import { lead_external } from "./actions/lead_external.ts";
import { refund_purchase } from "./actions/refund_purchase.ts";
import { update_lead } from "./actions/update_lead.ts";
import { update_status } from "./actions/update_status.ts";
import { update_status_id } from "./actions/update_status_id.ts";

/** Every action of the API by its `action` string. */
export const actions: Readonly<Record<string, Action>> = {
  create_lead,
  create_purchase,
  create_purchase_custom,
  get_channels,
  get_lead_by_id,
  get_lead_by_legacy_id,
  get_leads,
  get_purchases,
  get_reward_events,
  lead_external,
  refund_purchase,
  update_lead,
  update_status,
  update_status_id,
};
