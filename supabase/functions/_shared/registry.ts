import type { Action } from "./action.ts";
import { approve_rewards } from "./actions/approve_rewards.ts";
import { attach_sale } from "./actions/attach_sale.ts";
import { cancel_payout } from "./actions/cancel_payout.ts";
import { connect_stripe } from "./actions/connect_stripe.ts";
import { create_lead } from "./actions/create_lead.ts";
import { create_payout } from "./actions/create_payout.ts";
import { create_purchase } from "./actions/create_purchase.ts";
import { create_purchase_custom } from "./actions/create_purchase_custom.ts";
import { get_balances } from "./actions/get_balances.ts";
import { dismiss_sale } from "./actions/dismiss_sale.ts";
import { get_channels } from "./actions/get_channels.ts";
import { get_lead_by_id } from "./actions/get_lead_by_id.ts";
import { get_lead_by_legacy_id } from "./actions/get_lead_by_legacy_id.ts";
import { get_leads } from "./actions/get_leads.ts";
import { get_payouts } from "./actions/get_payouts.ts";
import { get_purchases } from "./actions/get_purchases.ts";
import { get_reward_events } from "./actions/get_reward_events.ts";
import { get_unmatched_sales } from "./actions/get_unmatched_sales.ts";
import { import_purchases } from "./actions/import_purchases.ts";
import { lead_external } from "./actions/lead_external.ts";
import { mark_payout_paid } from "./actions/mark_payout_paid.ts";
import { refund_purchase } from "./actions/refund_purchase.ts";
import { reject_rewards } from "./actions/reject_rewards.ts";
import { update_lead } from "./actions/update_lead.ts";
import { update_status } from "./actions/update_status.ts";
import { update_status_id } from "./actions/update_status_id.ts";

/** Every action of the API by its `action` string. */
export const actions: Readonly<Record<string, Action>> = {
  approve_rewards,
  attach_sale,
  cancel_payout,
  connect_stripe,
  create_lead,
  create_payout,
  create_purchase,
  create_purchase_custom,
  dismiss_sale,
  get_balances,
  get_channels,
  get_lead_by_id,
  get_lead_by_legacy_id,
  get_leads,
  get_payouts,
  get_purchases,
  get_reward_events,
  get_unmatched_sales,
  import_purchases,
  lead_external,
  mark_payout_paid,
  refund_purchase,
  reject_rewards,
  update_lead,
  update_status,
  update_status_id,
};
