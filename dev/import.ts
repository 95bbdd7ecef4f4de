// `deno task import --api URL --key KEY --channel ID [--format csv|jsonl] [--batch N] FILE`: records a
// merchant's file of sales through `import_purchases` (docs/guide.md, "Backfilling and syncing sales").
//
// FILE is CSV with a header row (columns: create_purchase's field names and external_id; other columns are
// ignored) or JSON Lines (one create_purchase object with external_id per line), by extension (.csv; .jsonl,
// .ndjson) or --format. It is streamed (csv-parse, node:readline): memory stays flat for any size. Rows go in
// batches of up to --batch (default 1000) rows and 1,000,000 bytes of request body, one at a time; a batch is
// retried on network errors and 429/500/502/504 with backoff, under an Idempotency-Key that is the same for that
// batch in every retry and resumed run (`import:<run id>:<first row>:<rows>`), so a retry replays. A 503 (the
// API's database deadline passed, its transaction rolled back) halves the rows per request (doubled again after 20
// that pass); for a single row it is retried with backoff too. Smaller batches have other Idempotency-Keys: rows of
// a 503'd request that did commit (the deadline's answer racing the commit) answer `duplicate` when sent again.
//
// Resuming: after each answered batch FILE.import-state records the rows answered so far, the totals and the
// length of FILE.errors.csv; running the same command again continues after those rows (the state is removed
// when the file is done, or ignored when FILE, the API or the channel changed: a fresh run re-sends every row,
// and rows already recorded answer `duplicate`). Refused rows go to FILE.errors.csv: the row's own columns (CSV)
// or its line (JSON Lines, column `json`), then `line`, `code` and `error`.
//
// Output: a progress bar on stderr when it is a terminal (cli-progress), else a plain progress line every 5
// seconds and at the end; the totals on stdout. Exit code: 0 every row created or duplicate; 1 some row refused,
// or the run stopped (the API refused a whole batch, retries ran out, the file is not valid CSV); 2 usage errors
// (flags, an unreadable FILE, a header without lead_id or external_id), before anything is sent; 130 Ctrl-C.
// Rows refused before sending: a CSV row whose cell count is not the header's, a JSON line that is not an object,
// a row larger than a request may be. A row without external_id is sent: the API's answer names the problem.
import { createReadStream } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { parse } from "npm:csv-parse@7.0.3";
import { stringify } from "npm:csv-stringify@6.9.0/sync";
// @ts-types="npm:@types/cli-progress@3.11.6"
import cliProgress from "npm:cli-progress@3.12.0";

/** The columns a CSV file may name: create_purchase's fields and external_id. */
export const FIELDS = [
  "lead_id",
  "product_id",
  "purchase_amount",
  "date",
  "description",
  "product_name",
  "product_description",
  "trigger_ids",
  "external_id",
];
const REQUIRED_COLUMNS = ["lead_id", "external_id"];
const MAX_BATCH = 1000;
/** The request body budget of a batch: the API refuses bodies over 1 MiB. */
export const MAX_BODY_BYTES = 1_000_000;
const PLAIN_PROGRESS_EVERY_MS = 5_000;

export const USAGE = `usage: deno task import --api URL --key KEY --channel ID [--format csv|jsonl] [--batch N] FILE
  --api URL      the function URL, e.g. https://<project-ref>.supabase.co/functions/v1/openapi-operations
  --key KEY      an API key of a company that may record purchases on the channel
  --channel ID   the channel every row is recorded on
  --format F     csv or jsonl (default: by FILE's extension: .csv; .jsonl, .ndjson)
  --batch N      rows per request, 1-1000 (default 1000)
Run the same command again to resume an interrupted import. Refused rows go to FILE.errors.csv.
Exit code: 0 every row recorded (created or duplicate), 1 some row refused or the import stopped, 2 usage error.`;

/** A usage error: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** The import stopped: the API refused a whole batch, retries ran out, the response was not understood, or FILE is not valid CSV. */
export class StoppedError extends Error {}

/** The command's options. */
export interface Options {
  api: string;
  key: string;
  channel: string;
  file: string;
  format: "csv" | "jsonl";
  batch: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses the command line; throws UsageError. `null` for --help. */
export function parseOptions(args: string[]): Options | null {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        api: { type: "string" },
        key: { type: "string" },
        channel: { type: "string" },
        format: { type: "string" },
        batch: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return null;
  if (parsed.positionals.length !== 1) throw new UsageError("one FILE is required");
  const file = parsed.positionals[0];
  if (!v.api || !/^https?:\/\/[^/]/.test(v.api)) throw new UsageError("--api must be an http(s) URL");
  if (!v.key) throw new UsageError("--key is required");
  if (!v.channel || !UUID.test(v.channel)) throw new UsageError("--channel must be a UUID");
  const format = v.format ?? formatOf(file);
  if (format !== "csv" && format !== "jsonl") {
    throw new UsageError(
      v.format === undefined
        ? `cannot tell the format of ${file} by its extension: use --format csv or --format jsonl`
        : "--format must be csv or jsonl",
    );
  }
  const batch = v.batch === undefined ? MAX_BATCH : Number(v.batch);
  if (!/^\d+$/.test(v.batch ?? "1") || batch < 1 || batch > MAX_BATCH) {
    throw new UsageError(`--batch must be an integer from 1 to ${MAX_BATCH}`);
  }
  return { api: v.api, key: v.key, channel: v.channel, file, format, batch };
}

function formatOf(file: string): string | undefined {
  const lower = file.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  return undefined;
}

/** One data row of FILE: what is sent, or why it is refused without being sent. */
export interface Row {
  /** The 1-based line of FILE the row starts on. */
  line: number;
  /** What FILE.errors.csv repeats of the row: its cells (CSV) or its text (JSON Lines). */
  original: string[];
  /** The row as JSON text for the request, when it can be sent. */
  json?: string;
  /** Cells of a CSV row beyond the header's columns, written after `error` in FILE.errors.csv. */
  extra?: string[];
  /** The error of a row refused here. */
  refused?: { code: string; error: string };
}

/** A file's rows and the header of FILE.errors.csv. */
export interface Source {
  errorsHeader: string[];
  /** Columns the command ignores (CSV). */
  ignored: string[];
  rows: AsyncIterable<Row>;
}

/**
 * A stream's items, then its error if it fails. (A stream's own async iterator throws the error as soon as it
 * happens, dropping the items parsed before it: the rows before a bad record would never be sent.) At most 1,000
 * items wait: the stream is paused until they are taken.
 */
function inOrder<T>(stream: NodeJS.ReadableStream): AsyncIterator<T> {
  const queue: ({ item: T } | { error: unknown } | { end: true })[] = [];
  let wake: (() => void) | null = null;
  const push = (entry: (typeof queue)[number]) => {
    queue.push(entry);
    wake?.();
  };
  stream.on("data", (item: T) => {
    push({ item });
    if (queue.length >= 1000) stream.pause();
  });
  stream.on("error", (error: unknown) => push({ error }));
  stream.on("end", () => push({ end: true }));
  return {
    async next(): Promise<IteratorResult<T>> {
      while (!queue.length) await new Promise<void>((resolve) => wake = resolve);
      wake = null;
      const entry = queue[0];
      if ("item" in entry) {
        queue.shift();
        if (queue.length < 100 && stream.isPaused()) stream.resume();
        return { value: entry.item, done: false };
      }
      if ("error" in entry) throw entry.error;
      return { value: undefined, done: true };
    },
  };
}

/** Opens FILE as CSV: reads the header (a UsageError when it lacks a required column) and streams the rows. */
export async function csvSource(file: string): Promise<Source> {
  const parser = createReadStream(file).pipe(parse({
    bom: true,
    info: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
  }));
  const records = inOrder<{ record: string[]; info: { lines: number; empty_lines: number } }>(parser);
  const first = await records.next();
  if (first.done) throw new UsageError(`${file} is empty: it needs a header row`);
  const header = first.value.record.map((name) => name.trim());
  const missing = REQUIRED_COLUMNS.filter((name) => !header.includes(name));
  if (missing.length) throw new UsageError(`${file}: the header has no ${missing.join(" or ")} column`);
  const repeated = header.filter((name, i) => header.indexOf(name) !== i);
  if (repeated.length) throw new UsageError(`${file}: the header repeats ${[...new Set(repeated)].join(", ")}`);
  const used = header.map((name) => FIELDS.includes(name));
  let endLine = first.value.info.lines;
  let emptyLines = first.value.info.empty_lines;
  async function* rows(): AsyncIterable<Row> {
    while (true) {
      let next;
      try {
        next = await records.next();
      } catch (error) {
        throw new StoppedError(`${file} is not valid CSV: ${(error as Error).message}`);
      }
      if (next.done) return;
      const { record, info } = next.value;
      const line = endLine + 1 + info.empty_lines - emptyLines;
      endLine = info.lines;
      emptyLines = info.empty_lines;
      if (record.length !== header.length) {
        // Short rows are padded so FILE.errors.csv's own columns stay in place; a long row's extra cells follow them.
        const cells = record.length < header.length
          ? [...record, ...Array(header.length - record.length).fill("")]
          : record;
        yield {
          line,
          original: cells.slice(0, header.length),
          extra: cells.slice(header.length),
          refused: {
            code: "invalid_row",
            error: `Row has ${record.length} fields, the header has ${header.length}`,
          },
        };
        continue;
      }
      const purchase: Record<string, string | string[]> = {};
      record.forEach((cell, i) => {
        if (used[i] && cell !== "") purchase[header[i]] = header[i] === "trigger_ids" ? triggerIds(cell) : cell;
      });
      yield { line, original: record, json: JSON.stringify(purchase) };
    }
  }
  return {
    errorsHeader: [...header, "line", "code", "error"],
    ignored: header.filter((_, i) => !used[i]),
    rows: rows(),
  };
}

// A CSV cell of trigger ids: a JSON array (`[]` fires none), else ids separated by spaces, commas or semicolons.
// Whatever it holds is sent, so the API's own validation answers for it.
function triggerIds(cell: string): string[] {
  if (cell.trim().startsWith("[")) {
    try {
      const ids = JSON.parse(cell);
      if (Array.isArray(ids)) return ids;
    } catch {
      // not JSON: taken as a list below
    }
  }
  return cell.split(/[\s,;]+/).filter(Boolean);
}

// JSON numbers keep their exact digits: each becomes raw JSON text again when the row is sent.
// deno-lint-ignore no-explicit-any
const rawJSON = (JSON as any).rawJSON as (text: string) => unknown;
function exactNumbers(_key: string, value: unknown, context?: { source?: string }) {
  return typeof value === "number" && context?.source !== undefined ? rawJSON(context.source) : value;
}

/** Opens FILE as JSON Lines (one object per line; blank lines skipped) and streams the rows. */
export function jsonlSource(file: string): Source {
  async function* rows(): AsyncIterable<Row> {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let line = 0;
    for await (const text of lines) {
      line++;
      if (text.trim() === "") continue;
      let value: unknown;
      try {
        // deno-lint-ignore no-explicit-any
        value = JSON.parse(line === 1 ? text.replace(/^\ufeff/, "") : text, exactNumbers as any);
      } catch {
        yield { line, original: [text], refused: { code: "invalid_json", error: "Line is not valid JSON" } };
        continue;
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        yield { line, original: [text], refused: { code: "invalid_json", error: "Line is not a JSON object" } };
        continue;
      }
      yield { line, original: [text], json: JSON.stringify(value) };
    }
  }
  return { errorsHeader: ["json", "line", "code", "error"], ignored: [], rows: rows() };
}

/** Opens FILE in its format. */
export function openSource(file: string, format: "csv" | "jsonl"): Promise<Source> {
  return format === "csv" ? csvSource(file) : Promise.resolve(jsonlSource(file));
}

/** A batch: consecutive rows from data row `start` (0-based) on. */
export interface Batch {
  start: number;
  rows: Row[];
}

const encoder = new TextEncoder();
function byteLength(text: string): number {
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).byteLength;
}

/**
 * Groups rows into batches of at most `size` rows (a number, or asked before each row) whose request bodies stay within `maxBytes`, skipping the
 * first `skip` rows (answered by an earlier run). Rows refused here ride along in their batch, unsent; so does a
 * row too large for any request. When reading fails, the rows read so far are a last batch before the error.
 */
export async function* batches(
  rows: AsyncIterable<Row>,
  size: number | (() => number),
  skip = 0,
  maxBytes = MAX_BODY_BYTES - 200,
): AsyncIterable<Batch> {
  let index = 0;
  let batch: Batch = { start: skip, rows: [] };
  let bytes = 0;
  try {
    for await (const read of rows) {
      if (index++ < skip) continue;
      let row = read;
      let rowBytes = row.json === undefined ? 0 : byteLength(row.json) + 1;
      if (rowBytes > maxBytes) {
        row = {
          ...row,
          json: undefined,
          refused: { code: "row_too_large", error: "Row is larger than the API's 1 MiB request limit" },
        };
        rowBytes = 0;
      }
      const limit = typeof size === "number" ? size : size();
      if (batch.rows.length >= limit || (batch.rows.length > 0 && bytes + rowBytes > maxBytes)) {
        yield batch;
        batch = { start: batch.start + batch.rows.length, rows: [] };
        bytes = 0;
      }
      batch.rows.push(row);
      bytes += rowBytes;
    }
  } catch (error) {
    if (batch.rows.length) yield batch;
    throw error;
  }
  if (batch.rows.length) yield batch;
}

/** The request body of a batch's sendable rows (row JSON spliced in as is, so number digits stay exact). */
export function requestBody(channel: string, rows: Row[]): string {
  return `{"action":"import_purchases","channel_id":${JSON.stringify(channel)},"purchases":[${
    rows.map((row) => row.json).join(",")
  }]}`;
}

/** What FILE.import-state holds between runs. */
export interface State {
  version: 1;
  run_id: string;
  api: string;
  channel_id: string;
  format: string;
  file_size: number;
  file_mtime: number | null;
  /** Data rows answered (sent and answered, or refused here), from the first. */
  rows: number;
  created: number;
  duplicates: number;
  errors: number;
  /** The length of FILE.errors.csv after those rows. */
  errors_bytes: number;
  /** Rows per request for the next batch (--batch, less while the API answers 503). */
  batch_size: number;
}

/** The state file and errors file paths of FILE. */
export function pathsOf(file: string) {
  return { state: `${file}.import-state`, errors: `${file}.errors.csv` };
}

/** The saved state of an interrupted run of the same import, if there is one; `note` says why one is not used. */
export async function loadState(
  options: Options,
  stat: Deno.FileInfo,
): Promise<{ state: State | null; note?: string }> {
  let text;
  try {
    text = await Deno.readTextFile(pathsOf(options.file).state);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { state: null };
    throw error;
  }
  let state: State;
  try {
    state = JSON.parse(text);
  } catch {
    return { state: null, note: "its state file is not valid JSON" };
  }
  if (state.version !== 1) return { state: null, note: "its state file is of another version" };
  if (state.api !== options.api || state.channel_id !== options.channel || state.format !== options.format) {
    return { state: null, note: "the interrupted run imported to another API, channel or format" };
  }
  if (state.file_size !== stat.size || state.file_mtime !== (stat.mtime?.getTime() ?? null)) {
    return { state: null, note: "the file changed since the interrupted run" };
  }
  return { state };
}

async function saveState(path: string, state: State) {
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, JSON.stringify(state) + "\n");
  await Deno.rename(temporary, path);
}

/** FILE.errors.csv, appended to row by row; created with its header on the first refused row. */
class ErrorsFile {
  #file: Deno.FsFile | null = null;
  bytes: number;
  constructor(readonly path: string, readonly header: string[], bytes: number) {
    this.bytes = bytes;
  }

  /** Starts from `bytes` (0: no file): what an interrupted run wrote after its last saved state is cut off. */
  async open() {
    if (this.bytes === 0) {
      await Deno.remove(this.path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      return;
    }
    try {
      this.#file = await Deno.open(this.path, { write: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.bytes = 0;
      return;
    }
    await this.#file.truncate(this.bytes);
    await this.#file.seek(this.bytes, Deno.SeekMode.Start);
  }

  async write(rows: string[][]) {
    if (!rows.length) return;
    let text = stringify(rows);
    if (!this.#file) {
      this.#file = await Deno.open(this.path, { write: true, create: true, truncate: true });
      text = stringify([this.header]) + text;
    }
    const data = encoder.encode(text);
    let written = 0;
    while (written < data.length) written += await this.#file.write(data.subarray(written));
    this.bytes += data.length;
  }

  close() {
    this.#file?.close();
  }
}

/** One row's answer in an import_purchases response. */
interface RowResult {
  index: number;
  status: "created" | "duplicate" | "error";
  error?: string;
  code?: string;
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const MAX_ATTEMPTS = 8;

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ? `${error.message}: ${cause}` : error.message;
}

function errorOf(text: string): string {
  try {
    const body = JSON.parse(text);
    if (typeof body?.error === "string") return `${body.error} (${body.code})`;
  } catch {
    // not JSON
  }
  return text.slice(0, 300);
}

/** A 503 for a request of several rows: the API's database deadline passed (the transaction rolled back); fewer rows may pass. */
class TooSlow extends Error {}

/**
 * Posts a batch; retries network errors and the retryable statuses with backoff under the same Idempotency-Key.
 * A 503 for several rows throws TooSlow at once, for the caller to send fewer rows per request.
 */
async function postBatch(
  options: Options,
  idempotencyKey: string,
  body: string,
  rowsLabel: string,
  log: (line: string) => void,
  canSplit: boolean,
): Promise<RowResult[]> {
  for (let attempt = 1;; attempt++) {
    let problem: string;
    let wait = Math.min(500 * 2 ** (attempt - 1), 30_000);
    try {
      const res = await fetch(options.api, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Api-Key": options.key, "Idempotency-Key": idempotencyKey },
        body,
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      if (res.status === 200) {
        const results = (JSON.parse(text) as { results?: RowResult[] }).results;
        if (!Array.isArray(results)) {
          throw new StoppedError(`unexpected response for ${rowsLabel}: ${text.slice(0, 300)}`);
        }
        return results;
      }
      if (!RETRYABLE.has(res.status)) {
        throw new StoppedError(`the API refused ${rowsLabel}: ${res.status} ${errorOf(text)}`);
      }
      problem = `${res.status} ${errorOf(text)}`;
      if (res.status === 503 && canSplit) throw new TooSlow(problem);
      const retryAfter = Number(res.headers.get("retry-after"));
      if (retryAfter > 0) wait = Math.max(wait, Math.min(retryAfter * 1000, 60_000));
    } catch (error) {
      if (error instanceof StoppedError || error instanceof TooSlow) throw error;
      problem = describe(error);
    }
    if (attempt === MAX_ATTEMPTS) throw new StoppedError(`${rowsLabel} failed ${attempt} times, last: ${problem}`);
    log(`${rowsLabel}: ${problem}; retrying in ${wait / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Counts FILE's lines (newline bytes, plus an unterminated last line): the rows' total for progress. */
export async function countLines(file: string): Promise<number> {
  using handle = await Deno.open(file);
  let lines = 0;
  let last = 10;
  for await (const chunk of handle.readable) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    if (chunk.length) last = chunk[chunk.length - 1];
  }
  return last === 10 ? lines : lines + 1;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** Progress on stderr: a cli-progress bar on a terminal, else a plain line every few seconds and at the end. */
export class Progress {
  #bar: cliProgress.SingleBar | null = null;
  #startedAt = performance.now();
  #lastLine = -Infinity;
  #lastShown = "";
  #startRows: number;

  constructor(readonly terminal: boolean, public total: number, readonly done: number) {
    this.#startRows = done;
    if (terminal) {
      this.#bar = new cliProgress.SingleBar({
        format: "{bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}",
        stream: process.stderr,
        etaBuffer: 50,
        hideCursor: true,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(Math.max(total, done), done, { rate: 0 });
    }
  }

  /** Rows per second of this run. */
  rate(done: number): number {
    const seconds = (performance.now() - this.#startedAt) / 1000;
    return seconds > 0 ? (done - this.#startRows) / seconds : 0;
  }

  update(done: number, final = false) {
    if (final) this.total = done;
    const rate = Math.round(this.rate(done));
    if (this.#bar) {
      this.#bar.setTotal(Math.max(this.total, done));
      this.#bar.update(done, { rate });
      return;
    }
    const now = performance.now();
    const total = Math.max(this.total, done);
    // The last line always shows the rows done as the total; it is not repeated when the last batch's line did.
    if (final ? this.#lastShown === `${done}/${total}` : now - this.#lastLine < PLAIN_PROGRESS_EVERY_MS) return;
    this.#lastLine = now;
    this.#lastShown = `${done}/${total}`;
    const percent = total ? Math.floor((done / total) * 100) : 100;
    const eta = rate > 0 ? duration((total - done) / rate) : "?";
    console.error(`progress: ${done}/${total} rows (${percent}%), ${rate} rows/s, ETA ${eta}`);
  }

  /** A message line that does not break the bar. */
  log(line: string) {
    if (this.#bar) this.#bar.stop();
    console.error(line);
    if (this.#bar) this.#bar.start(this.#bar.getTotal(), this.#bar.getProgress() * this.#bar.getTotal());
  }

  stop() {
    this.#bar?.stop();
  }
}

/** The totals of an import. */
export interface Totals {
  rows: number;
  created: number;
  duplicates: number;
  errors: number;
}

/** Runs an import; returns the exit code. Prints progress and messages on stderr, the totals on stdout. */
export async function runImport(options: Options): Promise<number> {
  let stat;
  try {
    stat = await Deno.stat(options.file);
  } catch (error) {
    throw new UsageError(`cannot read ${options.file}: ${(error as Error).message}`);
  }
  if (!stat.isFile) throw new UsageError(`${options.file} is not a file`);
  const paths = pathsOf(options.file);
  const source = await openSource(options.file, options.format);
  const loaded = await loadState(options, stat);
  if (loaded.note) console.error(`${paths.state}: not resuming, ${loaded.note}: starting over`);
  const state: State = loaded.state ?? {
    version: 1,
    run_id: crypto.randomUUID(),
    api: options.api,
    channel_id: options.channel,
    format: options.format,
    file_size: stat.size,
    file_mtime: stat.mtime?.getTime() ?? null,
    rows: 0,
    created: 0,
    duplicates: 0,
    errors: 0,
    errors_bytes: 0,
    batch_size: options.batch,
  };
  state.batch_size = Math.min(state.batch_size || options.batch, options.batch);
  if (loaded.state) console.error(`resuming after row ${state.rows} (${paths.state})`);
  if (source.ignored.length) console.error(`ignoring columns: ${source.ignored.join(", ")}`);
  const errorsFile = new ErrorsFile(paths.errors, source.errorsHeader, state.errors_bytes);
  await errorsFile.open();
  const lines = await countLines(options.file);
  const progress = new Progress(Deno.stderr.isTerminal(), options.format === "csv" ? lines - 1 : lines, state.rows);
  let stopped: string | null = null;
  // Ctrl-C: the bar gives the cursor back, and the way to resume is printed. Every answered batch is already saved.
  const interrupted = () => {
    progress.stop();
    console.error(`\ninterrupted after row ${state.rows}: run the same command again to resume (${paths.state})`);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    // Rows per request: --batch, halved while the API answers 503 (its database deadline passed), doubled
    // again after 20 requests in a row that passed.
    let passed = 0;
    const send = async (start: number, rows: Row[]): Promise<void> => {
      const sendable = rows.filter((row) => row.json !== undefined);
      const first = start + 1;
      const label = `rows ${first}-${start + rows.length}`;
      let results: RowResult[] = [];
      try {
        if (sendable.length) {
          results = await postBatch(
            options,
            `import:${state.run_id}:${first}:${sendable.length}`,
            requestBody(options.channel, sendable),
            label,
            (line) => progress.log(line),
            rows.length > 1,
          );
        }
      } catch (error) {
        if (!(error instanceof TooSlow)) throw error;
        state.batch_size = Math.ceil(rows.length / 2);
        passed = 0;
        progress.log(`${label}: ${error.message}; sending ${state.batch_size} rows per request`);
        for (let offset = 0; offset < rows.length;) {
          const count = state.batch_size;
          await send(start + offset, rows.slice(offset, offset + count));
          offset += count;
        }
        return;
      }
      if (results.length !== sendable.length || results.some((result, i) => result.index !== i)) {
        throw new StoppedError(`unexpected response for ${label}: ${results.length} results for ${sendable.length}`);
      }
      const refused: string[][] = [];
      let sent = 0;
      for (const row of rows) {
        const result = row.json === undefined ? null : results[sent++];
        if (result?.status === "created") state.created++;
        else if (result?.status === "duplicate") state.duplicates++;
        else {
          state.errors++;
          const { code, error } = result ? { code: result.code ?? "", error: result.error ?? "" } : row.refused!;
          refused.push([...row.original, String(row.line), code, error, ...row.extra ?? []]);
        }
      }
      await errorsFile.write(refused);
      if (++passed >= 20 && state.batch_size < options.batch) {
        state.batch_size = Math.min(options.batch, state.batch_size * 2);
        passed = 0;
      }
      state.rows = start + rows.length;
      state.errors_bytes = errorsFile.bytes;
      await saveState(paths.state, state);
      progress.update(state.rows);
    };
    for await (const batch of batches(source.rows, () => state.batch_size, state.rows)) {
      await send(batch.start, batch.rows);
    }
  } catch (error) {
    if (!(error instanceof StoppedError)) throw error;
    stopped = error.message;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupted);
    errorsFile.close();
  }
  if (stopped === null) progress.update(state.rows, true);
  progress.stop();
  const rate = Math.round(progress.rate(state.rows));
  console.log(
    `rows ${state.rows}, created ${state.created}, duplicates ${state.duplicates}, errors ${state.errors}, ${rate} rows/s`,
  );
  if (state.errors) console.log(`refused rows: ${paths.errors}`);
  if (stopped !== null) {
    console.error(`error: ${stopped}`);
    console.error(`stopped after row ${state.rows}: run the same command again to resume (${paths.state})`);
    return 1;
  }
  await Deno.remove(paths.state).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return state.errors ? 1 : 0;
}

if (import.meta.main) {
  let code;
  try {
    const options = parseOptions(Deno.args);
    if (options === null) {
      console.log(USAGE);
      code = 0;
    } else code = await runImport(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n${USAGE}`);
    code = 2;
  }
  Deno.exit(code);
}
