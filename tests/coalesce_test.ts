// coalesce (supabase/functions/_shared/coalesce.ts): the requests for a run until it starts share it.
import assert from "node:assert/strict";
import { coalesce } from "../supabase/functions/_shared/coalesce.ts";

Deno.test("coalesce: the requests until the run starts share it; the next request schedules another", async () => {
  let runs = 0;
  const soon = coalesce(() => runs++, 20);
  const first = soon.request();
  assert.ok(first instanceof Promise);
  const later = Array.from({ length: 9 }, () => soon.request());
  assert.deepEqual(later, Array(9).fill(null));
  assert.equal(runs, 0, "nothing runs before the delay");
  await first;
  assert.equal(runs, 1, "ten requests, one run");
  const second = soon.request();
  assert.ok(second instanceof Promise, "a request after the run schedules a new one");
  await second;
  assert.equal(runs, 2);
});

Deno.test("coalesce: flush starts a waiting run at once (its timer cleared), and nothing when none waits", async () => {
  let runs = 0;
  const soon = coalesce(() => runs++, 60_000);
  soon.flush();
  assert.equal(runs, 0);
  const waiting = soon.request();
  soon.flush();
  assert.equal(runs, 1);
  await waiting;
  soon.flush();
  assert.equal(runs, 1, "a run that started is not repeated");
  assert.ok(soon.request() instanceof Promise);
  soon.flush();
  assert.equal(runs, 2);
});

Deno.test("coalesce: a run that throws still settles its request and leaves the next one free", async () => {
  let runs = 0;
  const soon = coalesce(() => {
    runs++;
    throw new Error("sweep failed to start");
  }, 60_000);
  const waiting = soon.request();
  assert.throws(() => soon.flush(), { message: "sweep failed to start" });
  await waiting;
  assert.equal(runs, 1);
  const next = soon.request();
  assert.ok(next instanceof Promise, "the failed run does not leave a request pending forever");
  assert.throws(() => soon.flush(), { message: "sweep failed to start" });
  await next;
  assert.equal(runs, 2);
});
