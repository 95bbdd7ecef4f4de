// `deno task smoke <function-url> <api-key>`: a read-only check of a deployed function.
// Three requests, none of which writes anything: an OPTIONS preflight (204 and the CORS
// headers of docs/guide.md, "Calling the API"), a POST with a key that does not exist (401 with the error body whose
// request_id is the X-Request-Id header), and get_channels with the given key (200 with a
// `channels` array). Prints one PASS/FAIL line per check; exits 1 if any check fails, 2 on a
// usage error.

/** One check's outcome. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** The CORS headers every response carries (docs/guide.md, "Calling the API"). */
export const EXPECTED_CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers":
    "authorization, x-client-info, apikey, content-type, x-api-key, idempotency-key, x-request-id",
  "access-control-allow-methods": "POST, OPTIONS",
};

const TIMEOUT_MS = 15_000;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

// One request with a deadline that covers reading the body too (a cold start can be slow).
async function send(url: string, init: RequestInit): Promise<Reply> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(url, { ...init, signal: controller.signal, redirect: "manual" });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (error) {
    if (controller.signal.aborted) throw new Error(`no answer within ${TIMEOUT_MS / 1000} s`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// A comma-separated header value as a sorted, lower-case list, so order and spacing do not matter.
function tokens(value: string | null): string {
  return (value ?? "").split(",").map((t) => t.trim().toLowerCase()).filter(Boolean).sort().join(",");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function clip(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function isSameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function preflight(url: string): Promise<CheckResult> {
  const name = "OPTIONS preflight";
  const reply = await send(url, {
    method: "OPTIONS",
    headers: {
      "Origin": "https://smoke.example",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type, x-api-key",
    },
  });
  const problems: string[] = [];
  if (reply.status !== 204) problems.push(`status ${reply.status}, expected 204`);
  for (const [header, expected] of Object.entries(EXPECTED_CORS)) {
    const got = reply.headers.get(header);
    if (tokens(got) !== tokens(expected)) {
      problems.push(
        `${header}: ${got === null ? "missing" : JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
      );
    }
  }
  return problems.length
    ? { name, ok: false, detail: problems.join("; ") }
    : { name, ok: true, detail: "204 with the documented CORS headers" };
}

async function badKey(url: string): Promise<CheckResult> {
  const name = "bad API key";
  // Well-formed (sk_ + 43 base64url characters) but random, so the function looks it up in the
  // database and finds nothing: the same path a revoked or mistyped key takes.
  const key = "sk_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const reply = await send(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Api-Key": key },
    body: JSON.stringify({ action: "get_channels" }),
  });
  const requestId = reply.headers.get("x-request-id");
  const expected = { error: "Invalid API key", code: "invalid_api_key", request_id: requestId };
  const body = parseJson(reply.text);
  const problems: string[] = [];
  if (reply.status !== 401) problems.push(`status ${reply.status}, expected 401`);
  if (!requestId) problems.push("no X-Request-Id header");
  if (!isSameJson(body, expected)) problems.push(`body ${clip(reply.text)}, expected ${JSON.stringify(expected)}`);
  return problems.length
    ? { name, ok: false, detail: problems.join("; ") }
    : { name, ok: true, detail: "401 invalid_api_key, request_id matches X-Request-Id" };
}

async function getChannels(url: string, apiKey: string): Promise<CheckResult> {
  const name = "get_channels";
  const reply = await send(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Api-Key": apiKey },
    body: JSON.stringify({ action: "get_channels" }),
  });
  const body = parseJson(reply.text) as { channels?: unknown } | undefined;
  if (reply.status !== 200) {
    return { name, ok: false, detail: `status ${reply.status}, expected 200: ${clip(reply.text)}` };
  }
  if (!body || typeof body !== "object" || !Array.isArray(body.channels)) {
    return { name, ok: false, detail: `200 but no channels array: ${clip(reply.text)}` };
  }
  const count = body.channels.length;
  return { name, ok: true, detail: `200 with ${count} channel${count === 1 ? "" : "s"}` };
}

// fetch's own message is just "fetch failed"; the reason (refused, DNS, TLS) is in its cause.
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ? `${error.message}: ${cause}` : error.message;
}

/** Runs the three checks one after another; a check that throws (network, timeout) is a failure. */
export async function smoke(url: string, apiKey: string): Promise<CheckResult[]> {
  const checks: [string, () => Promise<CheckResult>][] = [
    ["OPTIONS preflight", () => preflight(url)],
    ["bad API key", () => badKey(url)],
    ["get_channels", () => getChannels(url, apiKey)],
  ];
  const results: CheckResult[] = [];
  for (const [name, run] of checks) {
    try {
      results.push(await run());
    } catch (error) {
      results.push({ name, ok: false, detail: `request failed: ${describe(error)}` });
    }
  }
  return results;
}

/** The line printed for a result. */
export function formatResult(result: CheckResult): string {
  return `${result.ok ? "PASS" : "FAIL"} ${result.name}: ${result.detail}`;
}

if (import.meta.main) {
  const [url, apiKey, ...rest] = Deno.args;
  if (!url || !apiKey || rest.length || !/^https?:\/\//.test(url)) {
    console.error("usage: deno task smoke <function-url> <api-key>");
    console.error("  e.g. deno task smoke https://<project-ref>.supabase.co/functions/v1/openapi-operations sk_…");
    Deno.exit(2);
  }
  const results = await smoke(url, apiKey);
  for (const result of results) console.log(formatResult(result));
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
