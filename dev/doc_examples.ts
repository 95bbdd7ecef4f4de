// The documents' runnable examples: every ```sh block of README.md and docs/guide.md runs, in
// order, in one bash per document, against a fresh `deno task start` (its own embedded
// PostgreSQL and demo), with the shell variables start prints. A ```json or ```text block right
// after a ```sh block is that block's output; a ```sh block without one prints nothing.
// tests/docs_test.ts compares what runs with what the documents show, ids, timestamps, keys and
// cursors aside; `deno run -A dev/doc_examples.ts README.md docs/guide.md` writes the outputs of
// a real run into the documents.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./cluster.ts";
import { parseExact } from "../supabase/functions/_shared/exact_json.ts";

/** The repository's root folder, where the examples run. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A fenced code block: its language and text, and the lines of its opening and closing fences. */
export interface Block {
  lang: string;
  body: string;
  start: number;
  end: number;
}

/** A ```sh block and the output block that follows it, if any. */
export interface Example {
  command: Block;
  output: Block | null;
}

/** The fenced blocks of a Markdown text, in order. */
export function blocksOf(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const close = lines.findIndex((line, j) => j > i && line.trim() === open[1]);
    if (close < 0) throw new Error(`unclosed code block at line ${i + 1}`);
    blocks.push({ lang: open[2], body: lines.slice(i + 1, close).join("\n"), start: i, end: close });
    i = close;
  }
  return blocks;
}

/** The ```sh blocks of a Markdown text, each with the ```json or ```text block right after it, if any. */
export function examplesOf(markdown: string): Example[] {
  const lines = markdown.split("\n");
  const blocks = blocksOf(markdown);
  return blocks.flatMap((block, i) => {
    if (block.lang !== "sh") return [];
    const next = blocks[i + 1];
    const adjacent = next && ["json", "text"].includes(next.lang) &&
      lines.slice(block.end + 1, next.start).every((line) => line.trim() === "");
    return [{ command: block, output: adjacent ? next : null }];
  });
}

/** A running `deno task start` on a fresh embedded database, with the variables it printed. */
export interface Demo {
  vars: Record<string, string>;
  dataDir: string;
  /** What the server printed so far. */
  log(): string;
  stop(): Promise<void>;
}

function baseEnv(dataDir: string): Record<string, string> {
  return {
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
    HOME: Deno.env.get("HOME") ?? "",
    DATA_DIR: dataDir,
    NO_COLOR: "1",
  };
}

/** Starts `dev/serve.ts` (what `deno task start` runs) on a free port and a fresh DATA_DIR; waits for its variables. */
export async function startDemo(): Promise<Demo> {
  // World-traversable: as root the embedded PostgreSQL runs as the postgres user.
  const dataDir = await Deno.makeTempDir({ prefix: "openapi-operations-docs-" });
  await Deno.chmod(dataDir, 0o755);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "dev/serve.ts"],
    cwd: ROOT,
    clearEnv: true,
    env: { ...baseEnv(dataDir), PORT: String(freePort()) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (text) => void (output += text) }));
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const stop = async () => {
    try {
      child.kill("SIGINT");
    } catch {
      // already gone
    }
    await child.status;
    await drained.catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
  };
  const deadline = Date.now() + 120_000;
  let exited = false;
  child.status.then(() => exited = true);
  while (!/^export PAYOUTS_CHANNEL_ID=\S+$/m.test(output)) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`deno task start did not print its variables:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const vars = Object.fromEntries([...output.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  return { vars, dataDir, log: () => output, stop };
}

/** What each example printed on stdout (and stderr, for diagnosis), in order. */
export interface Ran {
  stdout: string;
  stderr: string;
}

const MARK = "@@doc-example";

/**
 * Runs the examples in order in one bash, in the repository's root, with the demo's variables
 * and its DATA_DIR (so `deno task admin` uses the demo's database), and nothing else of this
 * process's environment.
 */
export async function runExamples(examples: Example[], demo: Demo): Promise<Ran[]> {
  const script =
    examples.map((example, i) =>
      `printf '\\n${MARK} ${i}@@\\n'; printf '\\n${MARK} ${i}@@\\n' >&2\n${example.command.body}\n`
    ).join("") + `printf '\\n${MARK} end@@\\n'; printf '\\n${MARK} end@@\\n' >&2\n`;
  // In a session of its own (setsid), so that whatever the examples start is ended with them.
  const child = new Deno.Command("setsid", {
    args: ["bash", "--noprofile", "--norc", "-c", script],
    cwd: ROOT,
    clearEnv: true,
    env: { ...baseEnv(demo.dataDir), ...demo.vars },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const endGroup = () => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is gone
    }
  };
  const timer = setTimeout(endGroup, 300_000);
  const out = await child.output().finally(() => {
    clearTimeout(timer);
    endGroup();
  });
  const split = (bytes: Uint8Array) => {
    const parts = new TextDecoder().decode(bytes).split(new RegExp(`\\n${MARK} (?:\\d+|end)@@\\n`));
    return parts.slice(1, examples.length + 1);
  };
  const stdout = split(out.stdout);
  const stderr = split(out.stderr);
  if (stdout.length !== examples.length) {
    throw new Error(`the examples stopped early:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return stdout.map((text, i) => ({ stdout: text, stderr: stderr[i] ?? "" }));
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TIMESTAMP = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})/g;

/**
 * Text with what differs between runs replaced: UUIDs, ISO timestamps, API keys, webhook
 * secrets, Retry-After seconds (they depend on how long the examples took), `deno task import`'s
 * rate (`… rows/s`) and mktemp's directory names; CRLF as LF.
 */
export function normaliseText(text: string): string {
  return text.replaceAll("\r\n", "\n")
    .replace(/^(retry-after: )\d+$/gim, "$1<seconds>")
    .replace(/\b\d+ rows\/s\b/g, "<rate> rows/s")
    .replace(/\/tmp\/tmp\.[A-Za-z0-9]+\//g, "/tmp/<dir>/")
    .replace(UUID, "<uuid>")
    .replace(TIMESTAMP, "<timestamp>")
    .replace(/sk_[A-Za-z0-9_-]{43}/g, "<api-key>")
    .replace(/whsec_[A-Za-z0-9+/=]+/g, "<secret>")
    .split("\n").map((line) => line.trimEnd()).join("\n").trim();
}

function normaliseValue(value: unknown, key?: string): unknown {
  if (key === "next_cursor" && typeof value === "string") return "<cursor>";
  if (typeof value === "string") return normaliseText(value);
  if (Array.isArray(value)) return value.map((item) => normaliseValue(item));
  if (value !== null && typeof value === "object" && !("rawJSON" in value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseValue(v, k)]));
  }
  return value;
}

/**
 * An output in the form it is compared in: JSON parsed with every number's digits and key order
 * kept, then written out with run-specific values replaced; text normalised. Null when a json
 * output is not one JSON value.
 */
export function comparable(text: string, lang: string): string | null {
  if (lang !== "json") return normaliseText(text);
  try {
    return JSON.stringify(normaliseValue(parseExact(text)), null, 2);
  } catch {
    return null;
  }
}

/** An output as a document shows it: JSON pretty-printed (digits kept), text as printed. */
export function asShown(text: string, lang: string): string {
  if (lang === "json") return JSON.stringify(parseExact(text), null, 2);
  return text.replaceAll("\r\n", "\n").split("\n").map((line) => line.trimEnd()).join("\n").trim();
}

/** Runs a document's examples against a fresh demo. */
export async function runDocument(markdown: string): Promise<{ examples: Example[]; ran: Ran[] }> {
  const examples = examplesOf(markdown);
  const demo = await startDemo();
  try {
    return { examples, ran: await runExamples(examples, demo) };
  } finally {
    await demo.stop();
  }
}

// Writes each example's real output into its output block.
async function rewrite(file: string): Promise<void> {
  const markdown = await Deno.readTextFile(file);
  const { examples, ran } = await runDocument(markdown);
  const lines = markdown.split("\n");
  for (let i = examples.length - 1; i >= 0; i--) {
    const { command, output } = examples[i];
    const printed = ran[i].stdout.trim();
    if (!output) {
      if (printed) throw new Error(`${file}:${command.start + 1}: prints output but has no output block:\n${printed}`);
      continue;
    }
    let shown: string;
    try {
      shown = asShown(printed, output.lang);
    } catch {
      throw new Error(`${file}:${command.start + 1}: output is not JSON:\n${printed}\n${ran[i].stderr}`);
    }
    lines.splice(output.start + 1, output.end - output.start - 1, ...shown.split("\n"));
  }
  await Deno.writeTextFile(file, lines.join("\n"));
  console.log(`${file}: ${examples.length} examples run, outputs written`);
}

if (import.meta.main) {
  for (const file of Deno.args) await rewrite(file);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", ...Deno.args], cwd: ROOT }).output();
  if (!fmt.success) throw new Error(new TextDecoder().decode(fmt.stderr));
}
