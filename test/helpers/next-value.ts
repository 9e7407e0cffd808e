/** Resolves with the first value `subscribe` hands its listener that passes `accept`, then unsubscribes. */
export function next<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  accept: (v: T) => boolean,
): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((v) => {
      if (!accept(v)) return;
      off();
      resolve(v);
    });
  });
}
