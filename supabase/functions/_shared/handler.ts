import type { Action } from "./action.ts";
import { hashApiKey, isWellFormedApiKey } from "./api_key.ts";
import type { Db } from "./db.ts";
import { clientCounter } from "./client_address.ts";
import { ApiError } from "./errors.ts";
import { hasDuplicateMember, isRawJson, parseExact } from "./exact_json.ts";
import { fingerprint, isValidIdempotencyKey } from "./idempotency.ts";
import type { ActionResult } from "./action.ts";
import { sha256Hex } from "./hash.ts";
import type { Sweeper } from "./webhooks.ts";
import { actions } from "./registry.ts";
import { describedPage, describedRoute } from "./openapi/routes.ts";
import { stripeEvent } from "./stripe.ts";

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 1024 * 1024;

const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers":
    "authorization, x-client-info, apikey, content-type, x-api-key, idempotency-key, x-request-id",
  "Access-Control-Allow-Methods": "POST, OPTIONS",
  // Lets browser clients read the headers they act on.
  "Access-Control-Expose-Headers": "X-Request-Id, Idempotent-Replayed, Retry-After",
};

/** What the handler needs from outside; injected so tests build it without env or globals. */
export interface HandlerDeps {
  db: Db;
  /** Receives unexpected errors (the 500s) with their request id; default console.error. */
  logError?: (requestId: string, error: unknown) => void;
  /** Called after a successful action that may have queued webhooks: start delivering them without delaying the response. */
  onWebhooksQueued?: () => void;
  /** The webhook sweep endpoint (`POST …/sweep-webhooks` with `Authorization: Bearer <secret>`), for a scheduler. */
  sweep?: { sweeper: Sweeper; secret: string | undefined };
  /**
   * Keeps work started by a request alive after its response (on Supabase:
   * EdgeRuntime.waitUntil). The promises it gets never reject: their errors already went to
   * logError. Without it the work simply runs on, as long as the process does.
   */
  background?: (work: Promise<unknown>) => void;
  /** How many X-Forwarded-For entries, from the right, trusted proxies append (0: none); default 1 (see client_address.ts). */
  trustedProxyHops?: number;
  /** Receives warnings about the deployment (once each); default console.warn of the JSON. */
  logWarning?: (event: Record<string, unknown>) => void;
}

/** What Deno.serve passes beside the request: the connection's address. */
export interface ConnectionInfo {
  remoteAddr?: { hostname?: string };
}

// The paths the function knows, under its base (hosted Supabase passes `/openapi-operations` or
// `/functions/v1/openapi-operations`, as does the local server): the base itself (a trailing slash
// allowed), where actions are posted, its sweep route, and one path per action of the registry
// (`…/openapi-operations/create_purchase`: the same action as the body's `action`), and the Stripe
// route of a connection (stripe.ts). Any other path is a GET route (openapi/routes.ts) or unknown (404).
const FUNCTION_PATH = /^(?:\/functions\/v1)?\/openapi-operations\/?$/;
const SWEEP_PATH = /^(?:\/functions\/v1)?\/openapi-operations\/sweep-webhooks$/;
const STRIPE_PATH = /^(?:\/functions\/v1)?\/openapi-operations\/stripe\/([^/]+)$/;
const ACTION_PATH = /^(?:\/functions\/v1)?\/openapi-operations\/([a-z_]+)$/;

// The action a per-action path names, or null when it names none of the registry's.
function pathAction(path: string): string | null {
  const name = ACTION_PATH.exec(path)?.[1];
  return name !== undefined && Object.hasOwn(actions, name) ? name : null;
}

function requestIdOf(req: Request): string {
  const given = req.headers.get("x-request-id");
  return given && /^[\x20-\x7e]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** The answer for a path the function does not know (an unknown sub-path, or outside the function on the local server), shaped like every other error. */
export function notFound(req: Request): Response {
  const requestId = requestIdOf(req);
  return errorResponse(new ApiError(404, "not_found", "Not found"), { "X-Request-Id": requestId });
}

// A JSON response; a string body is JSON text already (an action's answer).
function json(status: number, body: unknown, headers: Record<string, string>): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, "Content-Type": "application/json", ...headers },
  });
}

// Every error answer: `{error, code, request_id}` and the error's further fields, the request id being the
// X-Request-Id header's.
function errorResponse(error: ApiError, headers: { "X-Request-Id": string }): Response {
  const body = { error: error.message, code: error.code, request_id: headers["X-Request-Id"], ...error.fields };
  return json(error.status, body, {
    ...headers,
    ...error.headers,
  });
}

const INTERNAL_ERROR = new ApiError(500, "internal_error", "Internal server error");

// Reads at most MAX_BODY_BYTES, whatever Content-Length claims. A body with a Content-Length
// (which the HTTP server holds it to) is read in one piece; a chunked one is counted as it
// streams in.
async function readBody(req: Request): Promise<Uint8Array> {
  const length = req.headers.get("content-length");
  const declared = Number(length ?? "0");
  if (declared > MAX_BODY_BYTES) {
    throw new ApiError(413, "payload_too_large", "Request body too large");
  }
  if (length !== null) return new Uint8Array(await req.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) {
      throw new ApiError(413, "payload_too_large", "Request body too large");
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

// Check 3 of docs/errors.md ("The order of the checks"): a JSON object, without a duplicated
// member name at any depth. Any other JSON value is refused, a number kept as raw JSON
// (`1e400`, an object to typeof) included.
function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  let body: unknown;
  try {
    text = UTF8.decode(bytes);
    body = parseExact(text);
  } catch {
    throw new ApiError(400, "invalid_json", "Invalid JSON body");
  }
  if (
    typeof body !== "object" || body === null || Array.isArray(body) || isRawJson(body) || hasDuplicateMember(text)
  ) {
    throw new ApiError(400, "invalid_json", "Invalid JSON body");
  }
  return body as Record<string, unknown>;
}

// Check 4: the action the body names, or on a per-action path the path's, which a present
// `action` must equal.
function findAction(
  actions: Readonly<Record<string, Action>>,
  body: Record<string, unknown>,
  fromPath: string | null,
): Action {
  const name = body.action;
  if (fromPath !== null) {
    if (Object.hasOwn(body, "action") && name !== fromPath) {
      throw new ApiError(400, "action_mismatch", "action does not match the path");
    }
    return actions[fromPath];
  }
  if (name === undefined || name === null || name === "") {
    throw new ApiError(400, "action_required", "action required");
  }
  const label = typeof name === "string" ? name : JSON.stringify(name);
  if (typeof name !== "string" || !Object.hasOwn(actions, name)) {
    throw new ApiError(400, "unknown_action", `Unknown action: ${label}`);
  }
  return actions[name];
}

function keyHashOf(req: Request): string {
  const key = req.headers.get("x-api-key")?.trim() ?? "";
  if (!isWellFormedApiKey(key)) {
    throw new ApiError(401, "invalid_api_key", "Invalid API key");
  }
  return hashApiKey(key);
}

/**
 * Builds the function's request handler: CORS, method, size, JSON, action lookup, API key,
 * validation, then the action's single database call. Errors follow the check order of
 * docs/errors.md ("The order of the checks") and always answer `{error, code, request_id}`.
 */
export function createHandler(deps: HandlerDeps): (req: Request, info?: ConnectionInfo) => Promise<Response> {
  const logError = deps.logError ??
    ((requestId, error) => console.error(JSON.stringify({ request_id: requestId, error: String(error) })));
  const countedClient = clientCounter(
    deps.trustedProxyHops ?? 1,
    deps.logWarning ?? ((event) => console.warn(JSON.stringify(event))),
  );

  // A bad key wins over a bad body: only this error path pays a second round trip.
  async function failAfterAuth(keyHash: string | null, error: ApiError): Promise<never> {
    if (keyHash) await deps.db.rpc("authenticate", { key_hash: keyHash });
    throw error;
  }

  function sweepWebhooks(req: Request, headers: { "X-Request-Id": string }): Response {
    const given = req.headers.get("authorization") ?? "";
    const secret = deps.sweep?.secret;
    const authorized = !!secret && sha256Hex(given) === sha256Hex(`Bearer ${secret}`);
    if (!authorized) return errorResponse(new ApiError(401, "invalid_sweep_secret", "Invalid sweep secret"), headers);
    // A scheduler's call (pg_net) must not wait for receivers: the answer goes out now and the
    // sweep runs after it, bounded by its time budget.
    const work = deps.sweep!.sweeper.sweep().catch((error) => logError(headers["X-Request-Id"], error));
    deps.background?.(work);
    return json(202, { accepted: true }, headers);
  }

  async function dispatch(
    req: Request,
    info: ConnectionInfo | undefined,
    fromPath: string | null,
  ): Promise<ActionResult> {
    const body = parseObject(await readBody(req));
    const action = findAction(actions, body, fromPath);
    const keyHash = action.auth ? keyHashOf(req) : null;
    const idempotencyKey = action.idempotent ? req.headers.get("idempotency-key") : null;
    if (idempotencyKey !== null && !isValidIdempotencyKey(idempotencyKey)) {
      return await failAfterAuth(keyHash, new ApiError(400, "invalid_request", "Invalid Idempotency-Key"));
    }
    const parsed = action.schema.safeParse(body);
    if (!parsed.success) {
      return await failAfterAuth(keyHash, new ApiError(400, "invalid_request", parsed.error.issues[0].message));
    }
    const args = parsed.data;
    const idempotency = idempotencyKey
      ? { key: idempotencyKey, fingerprint: fingerprint(fromPath ?? (body.action as string), args) }
      : null;
    const client = () => countedClient(req.headers.get("x-forwarded-for"), info?.remoteAddr?.hostname ?? null);
    const result = await action.run({ db: deps.db, keyHash, args, idempotency, client });
    if (action.queuesWebhooks && !result.replayed) deps.onWebhooksQueued?.();
    return result;
  }

  // A route's answer, or its error's: an ApiError as itself, anything else logged and answered 500 without internals.
  async function answered(
    headers: { "X-Request-Id": string },
    route: () => Response | Promise<Response>,
  ): Promise<Response> {
    try {
      return await route();
    } catch (error) {
      if (error instanceof ApiError) return errorResponse(error, headers);
      logError(headers["X-Request-Id"], error);
      return errorResponse(INTERNAL_ERROR, headers);
    }
  }

  function methodNotAllowed(headers: { "X-Request-Id": string }, allow: string): Response {
    return errorResponse(new ApiError(405, "method_not_allowed", "Method not allowed", { Allow: allow }), headers);
  }

  // An action posted to the base path (fromPath null) or to its own path.
  async function actionRoute(
    req: Request,
    info: ConnectionInfo | undefined,
    headers: { "X-Request-Id": string },
    fromPath: string | null,
  ): Promise<Response> {
    if (req.method !== "POST") return methodNotAllowed(headers, "POST, OPTIONS");
    return await answered(headers, async () => {
      const { body, replayed } = await dispatch(req, info, fromPath);
      return json(200, body, replayed ? { ...headers, "Idempotent-Replayed": "true" } : headers);
    });
  }

  return async function handler(req: Request, info?: ConnectionInfo): Promise<Response> {
    const headers = { "X-Request-Id": requestIdOf(req) };
    // A preflight answer has no body, so no Content-Type.
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: { ...CORS_HEADERS, ...headers } });
    const path = new URL(req.url).pathname;
    // The base path first: nearly every call is an action posted there (docs/operations.md, "A single create_purchase
    // before and after").
    if (FUNCTION_PATH.test(path)) return await actionRoute(req, info, headers, null);
    if (SWEEP_PATH.test(path)) {
      if (req.method !== "POST") return methodNotAllowed(headers, "POST, OPTIONS");
      return await answered(headers, () => sweepWebhooks(req, headers));
    }
    const stripeConnection = STRIPE_PATH.exec(path)?.[1];
    if (stripeConnection !== undefined) {
      if (req.method !== "POST") return methodNotAllowed(headers, "POST, OPTIONS");
      return await answered(headers, async () => {
        const signature = req.headers.get("stripe-signature");
        const { body } = await stripeEvent(deps.db, stripeConnection, await readBody(req), signature);
        return json(200, body, headers);
      });
    }
    const fromPath = pathAction(path);
    if (fromPath !== null) return await actionRoute(req, info, headers, fromPath);
    // The OpenAPI document and the reference page (docs/operations.md), before any key or database.
    const route = describedRoute(path);
    if (!route) return notFound(req);
    if (req.method !== "GET") return methodNotAllowed(headers, "GET, OPTIONS");
    const page = await describedPage(route, actions);
    return new Response(page.body, { headers: { ...CORS_HEADERS, ...headers, ...page.headers } });
  };
}
