// The OpenAPI 3.1 document of the API, generated at run time from the action registry: each
// action's fields come from its zod schema (the JSON Schema each field builder of
// validation.ts attaches), its summary, resource, success body, errors and example from its
// `doc`. So a new action appears here as soon as it is in the registry, and no copy is kept by hand.
//
// Two forms of the same actions. The single URL (the original platform's contract) is one POST
// operation whose body is a discriminated union (oneOf + discriminator on `action`, one named
// schema per action): the shape OpenAPI has for one URL that dispatches on a body field. And one
// operation per action at `…/openapi-operations/<action>` (API.md §8), with its own request,
// 200 and error schemas and a tag per resource, from which code generators build one typed
// method per action (docs/guide.md, "Generated clients").
import { z } from "zod/v4";
import { type Action, type ErrorDoc, RESOURCES } from "../action.ts";
import { fieldDocs, type JsonSchema } from "../validation.ts";
import { object, SHAPES } from "./shapes.ts";

/** The version of the API the document describes. */
const API_VERSION = "1.0.0";

/** The path of the function, as the document's paths name it under each server. */
const PATH = "/openapi-operations";

const INVALID_JSON: ErrorDoc = { status: 400, code: "invalid_json", message: "Invalid JSON body" };
const COMMON_ERRORS: ErrorDoc[] = [
  { status: 413, code: "payload_too_large", message: "Request body too large" },
  { status: 500, code: "internal_error", message: "Internal server error" },
  { status: 503, code: "service_unavailable", message: "Service unavailable" },
];
// How the action is found: on the single URL from the body, on its own path from the path.
const SINGLE_URL_ERRORS: ErrorDoc[] = [
  { status: 400, code: "action_required", message: "action required" },
  { status: 400, code: "unknown_action", message: "Unknown action: <value>" },
];
const ACTION_PATH_ERRORS: ErrorDoc[] = [
  { status: 400, code: "action_mismatch", message: "action does not match the path" },
];
const AUTH_ERRORS: ErrorDoc[] = [{ status: 401, code: "invalid_api_key", message: "Invalid API key" }];
const IDEMPOTENCY_ERRORS: ErrorDoc[] = [
  { status: 400, code: "invalid_request", message: "Invalid Idempotency-Key" },
  { status: 422, code: "idempotency_key_reused", message: "Idempotency-Key reused with a different request" },
];

const METHOD_NOT_ALLOWED: ErrorDoc = { status: 405, code: "method_not_allowed", message: "Method not allowed" };
const SWEEP_UNAUTHORIZED: ErrorDoc = { status: 401, code: "invalid_sweep_secret", message: "Invalid sweep secret" };
// The Stripe route's errors (stripe.ts): a signature that does not verify, a connection that does not exist, an
// event without id or type, then the function's own.
const STRIPE_ERRORS: ErrorDoc[] = [
  { status: 400, code: "invalid_signature", message: "Invalid signature" },
  { status: 400, code: "invalid_event", message: "Invalid event" },
  { status: 404, code: "connection_not_found", message: "Connection not found" },
  ...COMMON_ERRORS,
];

const STATUS_TEXT: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  413: "Payload too large",
  422: "Unprocessable",
  429: "Too many requests",
  500: "Internal server error",
  503: "Service unavailable",
};

// The fields of an action's schema: its object, under any transforms of the whole body.
function objectShape(schema: z.ZodType): z.ZodRawShape {
  let inner: z.core.$ZodType = schema;
  while (inner instanceof z.ZodPipe) inner = inner.in;
  if (!(inner instanceof z.ZodObject)) throw new Error("an action's schema must be a zod object");
  return inner.shape;
}

interface Described {
  properties: Record<string, JsonSchema>;
  required: string[];
  fieldErrors: string[];
  example: Record<string, unknown>;
}

// What the fields of an action's schema say about themselves: the JSON Schema of what it
// accepts (z.toJSONSchema of its input; each field's schema is its metadata), plus each field's
// FieldDoc (its errors, its note added to its description, and its example when required).
function describeFields(schema: z.ZodType): Described {
  const json = z.toJSONSchema(schema, { io: "input" }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  const described: Described = {
    properties: json.properties ?? {},
    required: json.required ?? [],
    fieldErrors: [],
    example: {},
  };
  for (const [name, field] of Object.entries(objectShape(schema))) {
    const doc = fieldDocs.get(field);
    if (!doc) continue;
    const property = described.properties[name];
    const description = [property.description, doc.note].filter(Boolean).join(". ");
    if (description) property.description = description;
    if (described.required.includes(name) && doc.example !== undefined) described.example[name] = doc.example;
    described.fieldErrors.push(...doc.errors);
  }
  return described;
}

// Every error an action can answer in one form, §2's included, without duplicates.
function actionErrors(action: Action, fieldErrors: string[], form: ErrorDoc[]): ErrorDoc[] {
  const errors: ErrorDoc[] = [
    INVALID_JSON,
    ...form,
    ...COMMON_ERRORS,
    ...(action.auth ? AUTH_ERRORS : []),
    ...(action.idempotent ? IDEMPOTENCY_ERRORS : []),
    ...fieldErrors.map((message) => ({ status: 400, code: "invalid_request", message })),
    ...(action.doc?.errors ?? []),
  ];
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.status} ${e.code} ${e.message}`;
    return !seen.has(key) && seen.add(key);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

/** A regular expression (as source) for an error message with `<…>` placeholders; `<i>` is an index. */
export function messagePattern(message: string): string {
  const parts = message.split(/(<[a-z_]+>)/);
  return "^" +
    parts.map((part) => part === "<i>" ? "[0-9]+" : /^<[a-z_]+>$/.test(part) ? ".*" : escapeRegExp(part)).join("") +
    "$";
}

function markdownErrors(errors: ErrorDoc[]): string {
  const rows = errors.map((e) => `| ${e.status} | \`${e.code}\` | \`${e.message.replaceAll("|", "\\|")}\` |`);
  return ["| status | code | error |", "|---|---|---|", ...rows].join("\n");
}

// The body of the errors of one status: the exact strings as an enum, those with placeholders as patterns.
function errorSchema(errors: ErrorDoc[]): JsonSchema {
  const fields = Object.assign({}, ...errors.map((e) => e.fields ?? {})) as Record<string, JsonSchema>;
  const exact = [...new Set(errors.filter((e) => !/<[a-z_]+>/.test(e.message)).map((e) => e.message))].sort();
  const patterns = [...new Set(errors.filter((e) => /<[a-z_]+>/.test(e.message)).map((e) => e.message))].sort();
  const messages: JsonSchema[] = [
    ...(exact.length ? [{ enum: exact }] : []),
    ...patterns.map((message) => ({ pattern: messagePattern(message), description: message })),
  ];
  return object({
    error: {
      type: "string",
      description: "The exact human string; clients match on it",
      ...(messages.length === 1 ? messages[0] : { anyOf: messages }),
    },
    code: { type: "string", enum: [...new Set(errors.map((e) => e.code))].sort() },
    request_id: { type: "string", description: "Equals the X-Request-Id header" },
    ...fields,
  }, Object.keys(fields));
}

// Whether an action needs a key and takes an Idempotency-Key, as its request schema and its section both say it.
function accessSentences(action: Action): string[] {
  return [
    action.auth ? "Needs `X-Api-Key`." : "**No API key**: a public action.",
    action.idempotent ? "Takes an `Idempotency-Key` header (a retry replays the first answer)." : "",
  ];
}

// An action's request body: on the single URL `action` is required; on the action's own path it may be
// left out (and must name the action when sent).
function requestSchema(
  name: string,
  action: Action,
  fields: Described,
  form: { actionRequired: boolean; errors: ErrorDoc[] },
): JsonSchema {
  const doc = action.doc;
  const lines = [
    doc?.summary ?? "",
    ...accessSentences(action),
    typeof doc?.rule?.description === "string" ? `Rule: ${doc.rule.description}.` : "",
  ].filter(Boolean);
  return {
    type: "object",
    title: name,
    description: lines.join(" "),
    required: [...(form.actionRequired ? ["action"] : []), ...fields.required],
    properties: {
      action: {
        type: "string",
        const: name,
        ...(form.actionRequired ? {} : { description: "Optional here: the path names the action" }),
      },
      ...fields.properties,
    },
    ...(doc?.rule ? { allOf: [doc.rule] } : {}),
    examples: [{ ...(form.actionRequired ? { action: name } : {}), ...(doc?.example ?? fields.example) }],
    "x-api-key-required": action.auth,
    "x-idempotent": action.idempotent,
    "x-errors": form.errors,
  };
}

/** The operationId of an action's own operation: its name in camelCase (`create_purchase` → `createPurchase`). */
export function operationId(name: string): string {
  return name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

// An error response of one status, its body the given schema.
function errorResponse(status: number, schema: string): JsonSchema {
  return {
    description: STATUS_TEXT[status] ?? "Error",
    headers: {
      "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" },
      // Both always carry it: the database's 503 and the public intake's 429.
      ...(status === 503 || status === 429 ? { "Retry-After": { $ref: "#/components/headers/Retry-After" } } : {}),
    },
    content: { "application/json": { schema: { $ref: `#/components/schemas/${schema}` } } },
  };
}

const SUCCESS_HEADERS = {
  "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" },
  "Idempotent-Replayed": { $ref: "#/components/headers/Idempotent-Replayed" },
};

// The action's own operation, `POST …/openapi-operations/<action>`: its request, its 200, its errors.
function actionOperation(name: string, action: Action, errors: ErrorDoc[]): JsonSchema {
  const doc = action.doc;
  const statuses = [...new Set(errors.map((e) => e.status))].sort();
  return {
    tags: [doc?.resource ?? "other"],
    operationId: operationId(name),
    summary: name,
    description: [
      doc?.summary ?? "",
      [
        ...accessSentences(action),
        `The same as posting \`{"action": "${name}", …}\` to the single URL: same checks, answers and ` +
        "Idempotency-Key (a retry on either form replays).",
      ].filter(Boolean).join(" "),
      typeof doc?.rule?.description === "string" ? `Rule: ${doc.rule.description}.` : "",
      `### Errors\n\n${markdownErrors(errors)}`,
    ].filter(Boolean).join("\n\n"),
    security: action.auth ? [{ ApiKey: [] }] : [],
    parameters: [
      ...(action.idempotent ? [{ $ref: "#/components/parameters/Idempotency-Key" }] : []),
      { $ref: "#/components/parameters/X-Request-Id" },
    ],
    requestBody: {
      required: true,
      content: { "application/json": { schema: { $ref: `#/components/schemas/${name}_request` } } },
    },
    responses: {
      200: {
        description: `The ${name} answer`,
        headers: SUCCESS_HEADERS,
        content: { "application/json": { schema: { $ref: `#/components/schemas/${name}_response` } } },
      },
      ...Object.fromEntries(statuses.map((status) => [String(status), errorResponse(status, `${name}_error`)])),
    },
  };
}

const OVERVIEW = `Two forms of the same actions, with the same checks and answers:

- **One operation per action**: \`POST ${PATH}/<action>\` (e.g. \`${PATH}/create_purchase\`) with the
  action's fields as the body (\`action\` may be left out; when sent it must name the path's action,
  else 400 \`action_mismatch\`). Listed below by resource; code generators make one typed method of each.
- **The single URL** (the compatibility form): \`{"action": "<name>", …fields}\` posted to \`${PATH}\`.

Unknown extra fields are ignored.

- **Auth**: header \`X-Api-Key\` on every action except \`lead_external\`.
- **Success**: 200 with the action's JSON body; clients ignore keys they do not know.
- **Errors**: \`{"error", "code", "request_id"}\`; \`error\` is the exact string clients match on,
  checked in this order: 405 method, 413 size, 400 JSON, 400 action, 401 key, 400 fields, 403/404
  access, 503 database (with \`Retry-After: 1\`). A path under the function that this document does
  not name answers 404 \`not_found\`.
- **Retries**: authenticated writes take \`Idempotency-Key\` (1-255 printable ASCII): the same key
  and request replays the stored answer with \`Idempotent-Replayed: true\` and writes nothing, whichever
  form each attempt used.
- **Money** is a JSON number or decimal string, 0 to 10^12, stored exactly and answered with its
  exact digits; **timestamps** are ISO 8601, answered as UTC with milliseconds.
- Every response carries \`X-Request-Id\` (yours when you send one of 1-128 printable characters).

### Money from JavaScript

A JavaScript number keeps about 15 significant digits, so \`2852199.999999999999\` becomes
\`2852200\`. To keep amounts exact, send them as decimal strings (\`"purchase_amount": "12500.50"\`),
and read answers with a JSON parser that keeps big numbers: \`JSON.parse\` with the reviver's
\`context.source\` (Node 21+, Deno, current browsers), or a library such as \`lossless-json\`:

\`\`\`js
const exact = (key, value, context) =>
  typeof value === "number" && String(value) !== context.source ? context.source : value;
const body = JSON.parse(await response.text(), exact); // "12500.50" stays "12500.50"
\`\`\``;

function buildDocument(actions: Readonly<Record<string, Action>>): JsonSchema {
  const names = Object.keys(actions).sort();
  const schemas: Record<string, JsonSchema> = { ...SHAPES };
  const examples: Record<string, JsonSchema> = {};
  const allErrors: ErrorDoc[] = [];
  const actionPaths: Record<string, JsonSchema> = {};
  for (const name of names) {
    const action = actions[name];
    const fields = describeFields(action.schema);
    const errors = actionErrors(action, fields.fieldErrors, SINGLE_URL_ERRORS);
    const pathErrors = actionErrors(action, fields.fieldErrors, ACTION_PATH_ERRORS);
    schemas[name] = requestSchema(name, action, fields, { actionRequired: true, errors });
    schemas[`${name}_request`] = requestSchema(name, action, fields, { actionRequired: false, errors: pathErrors });
    schemas[`${name}_response`] = {
      ...(action.doc?.response ?? { type: "object" }),
      title: `${name} response`,
    };
    schemas[`${name}_error`] = { ...errorSchema(pathErrors), title: `${name} error` };
    actionPaths[`${PATH}/${name}`] = { post: actionOperation(name, action, pathErrors) };
    examples[name] = { summary: name, value: (schemas[name].examples as unknown[])[0] };
    allErrors.push(...errors);
  }
  const statuses = [...new Set(allErrors.map((e) => e.status))].sort();
  const errorResponses = Object.fromEntries(
    statuses.map((status) => [String(status), errorResponse(status, `Error${status}`)]),
  );
  for (const status of statuses) schemas[`Error${status}`] = errorSchema(allErrors.filter((e) => e.status === status));
  schemas.Error405 = errorSchema([METHOD_NOT_ALLOWED]);
  schemas.SweepError401 = errorSchema([SWEEP_UNAUTHORIZED]);
  for (const status of [...new Set(STRIPE_ERRORS.map((e) => e.status))]) {
    schemas[`StripeError${status}`] = errorSchema(STRIPE_ERRORS.filter((e) => e.status === status));
  }
  // Any method but the path's own answers 405 with Allow naming them (the handler's check 1).
  const notAllowed = (allow: string) => ({
    405: {
      description: `Method not allowed: only ${allow}`,
      headers: {
        "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" },
        Allow: { required: true, description: "The methods of this path", schema: { type: "string", const: allow } },
      },
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error405" } } },
    },
  });
  const notAllowedOperations = (name: string, methods: string[], allow: string, tag = "Endpoint") =>
    Object.fromEntries(methods.map((method) => [method, {
      tags: [tag],
      operationId: `${name}${method[0].toUpperCase()}${method.slice(1)}`,
      summary: `${method.toUpperCase()}: not allowed`,
      description: `This path answers ${allow}; every other method gets 405 \`method_not_allowed\`.`,
      security: [],
      responses: notAllowed(allow),
    }]));
  // The body is read as JSON text whatever its Content-Type, or without one (`curl -d` sends
  // application/x-www-form-urlencoded, a browser's simple request text/plain).
  const jsonText = {
    schema: {
      type: "string",
      contentMediaType: "application/json",
      contentSchema: { $ref: "#/components/schemas/ActionRequest" },
    },
  };

  const idempotent = names.filter((name) => actions[name].idempotent);
  const publicActions = names.filter((name) => !actions[name].auth);
  const describe = (summary: string, type: string, schema: JsonSchema) => ({
    tags: ["Reference"],
    summary,
    security: [],
    responses: {
      200: {
        description: summary,
        headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
        content: { [type]: { schema } },
      },
    },
  });

  return {
    openapi: "3.1.0",
    info: {
      title: "openapi-operations",
      version: API_VERSION,
      summary: "Leads, purchases, rewards and payouts of partner channels, as one action API",
      description: OVERVIEW,
    },
    servers: [
      {
        url: "https://{project_ref}.supabase.co/functions/v1",
        description: "Hosted on Supabase",
        variables: { project_ref: { default: "your-project-ref" } },
      },
      { url: "http://127.0.0.1:8000/functions/v1", description: "Local (`deno task start`)" },
    ],
    tags: [
      ...RESOURCES.map((name) => ({ name, description: `The actions on ${name}, each at its own path.` })),
      {
        name: "Endpoint",
        description: "The single URL every action can also be posted to, `action` in the body: the compatibility form.",
      },
      { name: "Reference", description: "This document and its reference page; no API key, no database." },
    ],
    "x-tagGroups": [
      { name: "Actions", tags: [...RESOURCES] },
      { name: "Single URL", tags: ["Endpoint"] },
      { name: "Reference", tags: ["Reference"] },
    ],
    paths: {
      ...actionPaths,
      [PATH]: {
        post: {
          tags: ["Endpoint"],
          operationId: "callAction",
          summary: "Call an action (compatibility form)",
          description: [
            "The compatibility form of every action (the original platform's single URL): the body's `action` " +
            "selects one of these, each of which is also its own operation at `" + PATH + "/<action>`, " +
            "with its fields, success body and errors:",
            ...names.map((name) => `- \`${name}\`: ${actions[name].doc?.summary ?? ""}`),
            "",
            `No API key: ${publicActions.map((n) => `\`${n}\``).join(", ") || "none"}. ` +
            `Idempotency-Key: ${idempotent.map((n) => `\`${n}\``).join(", ")}.`,
          ].join("\n"),
          security: [{ ApiKey: [] }, {}],
          parameters: [
            { $ref: "#/components/parameters/Idempotency-Key" },
            { $ref: "#/components/parameters/X-Request-Id" },
          ],
          requestBody: {
            required: true,
            description: "The body is read as JSON whatever the Content-Type, which is not required: " +
              "`curl -d` (application/x-www-form-urlencoded) and text/plain work as application/json does.",
            content: {
              "application/json": { schema: { $ref: "#/components/schemas/ActionRequest" }, examples },
              "text/plain": jsonText,
              "application/x-www-form-urlencoded": jsonText,
              "*/*": jsonText,
            },
          },
          responses: {
            200: {
              description: "The action's success body (see the action's operation)",
              headers: SUCCESS_HEADERS,
              content: { "application/json": { schema: { $ref: "#/components/schemas/ActionResponse" } } },
            },
            ...errorResponses,
          },
        },
        options: {
          tags: ["Endpoint"],
          operationId: "preflight",
          summary: "CORS preflight",
          security: [],
          responses: {
            204: {
              description: "CORS headers (Access-Control-Allow-Origin: *); no body, no Content-Type",
              headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
            },
          },
        },
        ...notAllowedOperations("callActionWith", ["get", "put", "patch", "delete"], "POST, OPTIONS"),
      },
      [`${PATH}/sweep-webhooks`]: {
        post: {
          tags: ["Reference"],
          operationId: "sweepWebhooks",
          summary: "Deliver the webhooks that are due (for a scheduler)",
          description: "Answers 202 at once and delivers due webhook deliveries after the answer. " +
            "Needs `Authorization: Bearer <WEBHOOK_SWEEP_SECRET>`; without that secret configured it always answers 401.",
          security: [{ SweepSecret: [] }],
          responses: {
            202: {
              description: "The sweep is started",
              headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
              content: {
                "application/json": {
                  schema: object({ accepted: { type: "boolean", const: true } }),
                },
              },
            },
            401: {
              description: "Missing or wrong bearer secret, or none configured",
              headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
              content: { "application/json": { schema: { $ref: "#/components/schemas/SweepError401" } } },
            },
            ...notAllowed("POST, OPTIONS"),
          },
        },
      },
      [`${PATH}/stripe/{connection_id}`]: {
        post: {
          tags: ["stripe"],
          operationId: "stripeWebhook",
          summary: "Stripe's webhook endpoint of a connection (connect_stripe)",
          description: [
            "Where Stripe sends a connected account's events. Each request is verified with the connection's " +
            "signing secret (the `Stripe-Signature` header, 5 minutes of tolerance) and each event id is processed " +
            "once, in one transaction: `checkout.session.completed` (paid, payment mode) and `invoice.paid` (above " +
            "0) record a purchase, `refund.created` / `refund.updated` (succeeded) and `charge.refunded` a refund of " +
            "exactly that refund's amount, `invoice_payment.paid` links an invoice to its payment, a Checkout " +
            "session in subscription mode attributes its customer; a sale without a lead, with several, in another " +
            "currency or of a shape not understood is kept as an unmatched sale (get_unmatched_sales); any other " +
            "event is recorded as ignored. No API key: the signature authenticates.",
            `### Errors\n\n${markdownErrors(STRIPE_ERRORS)}`,
          ].join("\n\n"),
          security: [],
          parameters: [
            {
              name: "connection_id",
              in: "path",
              required: true,
              description: "The connection's id, as connect_stripe answered it",
              schema: { type: "string", format: "uuid" },
            },
            {
              name: "Stripe-Signature",
              in: "header",
              required: true,
              description: "Stripe's signature of the body",
              schema: { type: "string" },
            },
            { $ref: "#/components/parameters/X-Request-Id" },
          ],
          requestBody: {
            required: true,
            description: "A Stripe event object, exactly as Stripe sent it (the signature covers the raw bytes)",
            content: { "application/json": { schema: { type: "object" } } },
          },
          responses: {
            200: {
              description: "The event is processed (or was before)",
              headers: { "X-Request-Id": { $ref: "#/components/headers/X-Request-Id" } },
              content: {
                "application/json": {
                  schema: { $ref: "#/components/schemas/StripeEventReceived" },
                },
              },
            },
            ...Object.fromEntries(
              [...new Set(STRIPE_ERRORS.map((e) => e.status))].map((status) => [
                String(status),
                errorResponse(status, `StripeError${status}`),
              ]),
            ),
            ...notAllowed("POST, OPTIONS"),
          },
        },
      },
      [`${PATH}/openapi.json`]: {
        get: {
          operationId: "getOpenApi",
          ...describe("This OpenAPI document", "application/json", { type: "object" }),
        },
        ...notAllowedOperations("getOpenApiWith", ["post", "put", "patch", "delete"], "GET, OPTIONS", "Reference"),
      },
      [`${PATH}/docs`]: {
        get: { operationId: "getDocs", ...describe("This reference page", "text/html", { type: "string" }) },
        ...notAllowedOperations("getDocsWith", ["post", "put", "patch", "delete"], "GET, OPTIONS", "Reference"),
      },
    },
    components: {
      securitySchemes: {
        ApiKey: {
          type: "apiKey",
          in: "header",
          name: "X-Api-Key",
          description: `Your company's API key; every action but ${publicActions.join(", ")} needs it`,
        },
        SweepSecret: {
          type: "http",
          scheme: "bearer",
          description: "The function's WEBHOOK_SWEEP_SECRET; only for the sweep route",
        },
      },
      parameters: {
        "Idempotency-Key": {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description: `On authenticated writes (${idempotent.join(", ")}): the same key and request ` +
            "replays the stored answer and writes nothing; the same key with another request answers 422. " +
            "Keys are kept at least 24 hours.",
          schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x20-\\x7e]+$" },
        },
        "X-Request-Id": {
          name: "X-Request-Id",
          in: "header",
          required: false,
          description: "Echoed in the X-Request-Id response header and error bodies; default a fresh UUID",
          schema: { type: "string", minLength: 1, maxLength: 128, pattern: "^[\\x20-\\x7e]+$" },
        },
      },
      // X-Request-Id is on every answer and Retry-After on every 503 and 429 (the only answers
      // that use it): required. Idempotent-Replayed is only on a replay, so a 200 may lack it.
      headers: {
        "X-Request-Id": {
          required: true,
          description: "The request's id: yours when you sent a valid one, else a fresh UUID",
          schema: { type: "string", minLength: 1, maxLength: 128, pattern: "^[\\x20-\\x7e]+$" },
        },
        "Idempotent-Replayed": {
          required: false,
          description: "`true` when the answer is the stored one for an Idempotency-Key; absent otherwise",
          schema: { type: "string", const: "true" },
        },
        "Retry-After": {
          required: true,
          description: "Seconds to wait before retrying",
          schema: { type: "integer", minimum: 1 },
        },
      },
      schemas: {
        ActionRequest: {
          description: "The request body: one of the actions, chosen by `action`",
          oneOf: names.map((name) => ({ $ref: `#/components/schemas/${name}` })),
          discriminator: {
            propertyName: "action",
            mapping: Object.fromEntries(names.map((name) => [name, `#/components/schemas/${name}`])),
          },
        },
        ActionResponse: {
          description: "The success body of the action called",
          anyOf: names.map((name) => ({ $ref: `#/components/schemas/${name}_response` })),
        },
        ...schemas,
      },
    },
  };
}

const built = new WeakMap<Readonly<Record<string, Action>>, JsonSchema>();

/** The OpenAPI document of these actions, built once per registry. */
export function openApiDocument(actions: Readonly<Record<string, Action>>): JsonSchema {
  let document = built.get(actions);
  if (!document) {
    document = buildDocument(actions);
    built.set(actions, document);
  }
  return document;
}
