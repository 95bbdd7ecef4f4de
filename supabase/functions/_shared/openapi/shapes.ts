// The objects the actions answer with, as JSON Schemas for the OpenAPI document. Written by
// hand after the SQL that builds them (internal.lead_json, internal.channel_json, the views
// internal.purchase_objects and internal.reward_event_status, …);
// tests/openapi_reality_test.ts checks every action's real answers against them with no
// undocumented key allowed, so they cannot drift.
// The document itself allows more keys: clients ignore unknown keys (the document's overview says so).
import type { JsonSchema } from "../validation.ts";

/** A schema that is `schema` or null. */
export function nullable(schema: JsonSchema): JsonSchema {
  if (typeof schema.type === "string") return { ...schema, type: [schema.type, "null"] };
  return { anyOf: [schema, { type: "null" }] };
}

/** An object with these properties, all required except those named in `optional`. */
export function object(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
  return {
    type: "object",
    required: Object.keys(properties).filter((key) => !optional.includes(key)),
    properties,
  };
}

/** A reference to one of SHAPES (tests/openapi_test.ts resolves every reference). */
export function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

const uuid: JsonSchema = { type: "string", format: "uuid" };
const money: JsonSchema = {
  type: "number",
  description: "Written with exactly the stored digits: no float rounding, no exponent. From JavaScript, read it " +
    "with a JSON parser that keeps big numbers (see Money from JavaScript)",
};
const timestamp: JsonSchema = {
  type: "string",
  format: "date-time",
  pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3,6}Z$",
  description: "UTC with milliseconds (microseconds when stored)",
};
const text = nullable({ type: "string" });

const leadProperties: Record<string, JsonSchema> = {
  id: uuid,
  legacy_id: { type: "integer" },
  created_at: timestamp,
  email: text,
  first_name: text,
  last_name: text,
  phone: text,
  company_name: text,
  source: text,
  employee: text,
  referring_employee: { ...text, description: "The same value as employee" },
  notes: text,
  business_id: text,
  channels_id: uuid,
  lead_status_id: nullable(uuid),
  status: { ...text, description: "The name of the lead's status" },
  property_values: {
    type: "array",
    items: object({
      id: uuid,
      value: text,
      property_definitions_id: uuid,
      property_definitions: object({ id: uuid, name: { type: "string" }, type: { type: "string" } }),
    }),
  },
};

const rewardEventProperties: Record<string, JsonSchema> = {
  id: uuid,
  reward_triggers_id: nullable(uuid),
  amount: { ...money, description: "Negative for a reversal (refund)" },
  currency: { type: "string", pattern: "^[A-Z]{3}$" },
  reward_type: { type: "string", enum: ["fixed", "percentage"] },
  rate: nullable({ type: "number" }),
  base_amount: nullable({ type: "number" }),
  beneficiary_company_id: nullable(uuid),
  status: {
    type: "string",
    enum: ["pending", "review", "approved", "rejected", "paid"],
    description: "Derived at every read from the decision, the payout and the channel's hold period",
  },
};

/** The shared objects, by component name. */
export const SHAPES = {
  Lead: { ...object(leadProperties), description: "A lead, keys in this order" },
  LeadWithStatus: {
    ...object({ ...leadProperties, lead_status: nullable(object({ id: uuid, status: { type: "string" } })) }),
    description: "A Lead plus its status as {id, status}, or null",
  },
  LeadStatusChange: {
    ...object({
      id: uuid,
      created_at: timestamp,
      email: text,
      first_name: text,
      last_name: text,
      status: { type: "string" },
      lead_status_id: uuid,
      channels_id: uuid,
    }),
    description: "The short lead update_status and update_status_id answer",
  },
  Channel: object({
    id: uuid,
    title: { type: "string" },
    created_at: timestamp,
    referring_id: nullable(uuid),
    receiving_id: nullable(uuid),
    creator: nullable(uuid),
    partner: nullable(uuid),
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    no_auth_api: { type: "boolean" },
    property_definitions: {
      type: "array",
      items: object({
        id: uuid,
        name: { type: "string" },
        type: { type: "string" },
        order: { type: "integer" },
        visible: { type: "boolean" },
      }),
    },
    lead_status: {
      type: "array",
      items: object({
        id: uuid,
        status: { type: "string" },
        order: { type: "integer" },
        visible: { type: "boolean" },
        color: text,
      }),
    },
  }),
  Purchase: {
    ...object({
      id: uuid,
      created_at: timestamp,
      leads_id: uuid,
      products_id: nullable(uuid),
      purchase_amount: nullable(money),
      date: timestamp,
      description: text,
      name: { ...text, description: "Present when product_name was sent, and in listings" },
      external_id: { type: "string", description: "The sale's id in the merchant's system; present when it has one" },
    }, ["name", "external_id"]),
  },
  RewardEvent: {
    ...object(rewardEventProperties, ["status"]),
    description: "A reward (commission) a trigger created, as purchase responses carry it",
  },
  RewardEventDetailed: {
    ...object({
      ...rewardEventProperties,
      created_at: timestamp,
      channels_id: uuid,
      leads_id: uuid,
      purchases_id: nullable(uuid),
      refunds_id: nullable(uuid),
      reverses_reward_events_id: nullable(uuid),
      status: rewardEventProperties.status,
      rejection_reason: text,
      payouts_id: nullable(uuid),
    }, ["rejection_reason", "payouts_id"]),
    description: "A reward event with where it comes from, as listings and refunds carry it",
  },
  Refund: object({
    id: uuid,
    created_at: timestamp,
    purchases_id: uuid,
    amount: money,
    reason: text,
    external_id: { type: "string", description: "The payment provider's refund id; present when it has one" },
  }, ["external_id"]),
  Payout: object({
    id: uuid,
    channels_id: uuid,
    beneficiary_company_id: nullable(uuid),
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    amount: money,
    reward_events_count: { type: "integer" },
    status: { type: "string", enum: ["pending", "paid", "cancelled"] },
    reference: { ...text, description: "The bank's or payment provider's id, once paid" },
    created_at: timestamp,
    paid_at: nullable(timestamp),
  }),
  Balance: {
    ...object({
      currency: { type: "string", pattern: "^[A-Z]{3}$" },
      pending: money,
      review: money,
      approved: money,
      in_payout: money,
      paid: money,
      rejected: money,
    }),
    description: "Sums of reward amounts by status, reversals included",
  },
  RewardDecision: {
    ...object({
      reward_events: { type: "array", items: ref("RewardEventDetailed"), description: "The changed reward events" },
      skipped: {
        type: "array",
        items: object({ id: uuid, status: { type: "string" } }),
        description: "Reward events left as they are, with their status",
      },
    }),
  },
  StripeConnection: {
    ...object({
      id: uuid,
      company_id: uuid,
      channel_id: uuid,
      created_at: timestamp,
      endpoint: {
        type: "string",
        description: "The path to append to the project's URL and paste into Stripe's webhook settings",
      },
      disconnected_at: nullable(timestamp),
    }),
    description: "A Stripe account's webhook endpoint for a channel; its signing secret is never shown",
  },
  StripeEventReceived: {
    ...object({
      received: { type: "boolean", const: true },
      event_id: { type: "string" },
      outcome: {
        type: "string",
        enum: ["purchase", "refund", "unmatched", "attributed", "linked", "pending", "refused", "ignored", "duplicate"],
      },
      detail: { ...nullable({ type: "string" }), description: "Why, where the outcome needs a reason" },
    }),
    description: "The Stripe route's answer: what the event did (duplicate: processed before)",
  },
  UnmatchedSale: {
    ...object({
      id: uuid,
      created_at: timestamp,
      channel_id: uuid,
      status: { type: "string", enum: ["unmatched", "attached", "dismissed"] },
      reason: { type: "string", enum: ["no_lead", "multiple_leads", "currency", "unknown_shape"] },
      external_id: { ...nullable({ type: "string" }), description: "The invoice or payment intent id" },
      amount: { ...nullable(money), description: "In the currency's units, converted from Stripe's minor units" },
      currency: nullable({ type: "string" }),
      customer: nullable({ type: "string" }),
      email: nullable({ type: "string" }),
      stripe_event_id: { type: "string" },
      purchase_id: nullable(uuid),
      dismiss_reason: nullable(text),
    }),
    description: "A sale from Stripe that could not be recorded on its own, with its reason",
  },
  NextCursor: {
    ...nullable({ type: "string" }),
    description: "Pass as cursor for the next page; null on the last page",
  },
} satisfies Record<string, JsonSchema>;
