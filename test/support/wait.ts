/** Lets time pass (a lease to lapse, a process to restart): only where no condition can be polled. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until the probe yields a truthy value; fails with the description and the last value. */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  timeoutMs: number,
  description: string,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (last: ${JSON.stringify(last)})`);
    await sleep(intervalMs);
  }
}
