// Runs an async function over items with at most `limit` calls in flight: the scripts' only
// concurrency primitive, so that no script floods the local stack with thousands of requests at once.

/** Calls `fn` for every item, at most `limit` at a time; rejects with the first error after all started calls end. */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`forEachLimit: limit must be a whole number ≥ 1, got ${limit}`);
  const iterator = items[Symbol.iterator]();
  let index = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    for (;;) {
      if (failure) return;
      const next = iterator.next();
      if (next.done) return;
      const i = index++;
      try {
        await fn(next.value, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  if (failure) throw failure.error;
}
