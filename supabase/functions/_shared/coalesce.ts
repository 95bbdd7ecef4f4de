/** A run asked for now and started a little later, shared by every request in between (see coalesce). */
export interface Coalesced {
  /**
   * Asks for a run. The first request since the last run schedules one `delayMs` from now and answers the promise of
   * its start (to keep the process alive for it); the requests until then share that run and answer null.
   */
  request(): Promise<void> | null;
  /** Starts a requested run now, if one is waiting (before shutting down). */
  flush(): void;
}

/**
 * Coalesces requests for `run` into at most one run per `delayMs`: the function asks for a webhook sweep after every
 * action that may have queued a delivery, and one sweep takes every delivery those actions queued, so a busy instance
 * sweeps a few times a second instead of once per request.
 */
export function coalesce(run: () => void, delayMs: number): Coalesced {
  let start: (() => void) | null = null;
  return {
    request() {
      if (start) return null;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => start?.(), delayMs);
        start = () => {
          clearTimeout(timer);
          start = null;
          try {
            run();
          } finally {
            resolve();
          }
        };
      });
    },
    flush() {
      start?.();
    },
  };
}
