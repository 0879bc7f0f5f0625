// A bound on any one step of the bench: its promise, or an error naming the step once the time is up.
// Every wait between and after the runs goes through this, so a stuck step is reported, never waited on.

export class StepTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${Math.round(ms / 1000)} s`);
    this.name = 'StepTimeout';
  }
}

export async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeout(what, ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
