// Polling a condition in a test: `f` is asked every `stepMs` until it gives something other
// than undefined, or `ms` have passed (then the error names `what`).

export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms: number, stepMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
