// A pool of host cores for the lab suites: each suite asks for the cores its emulator keeps busy
// and waits until they are free. Smaller asks go first, so the single-threaded suites run side
// by side and the multi-threaded ones (which want every core) run alone after them.

export type Pool = <T>(cores: number, job: () => Promise<T>) => Promise<T>;

export function pool(capacity: number): Pool {
  let free = capacity;
  const waiting: { cores: number; start: () => void }[] = [];
  const pump = () => {
    waiting.sort((a, b) => a.cores - b.cores); // stable: first come, first served within a size
    for (let i = 0; i < waiting.length; ) {
      const w = waiting[i] as (typeof waiting)[number];
      if (w.cores > free) {
        i++;
        continue;
      }
      free -= w.cores;
      waiting.splice(i, 1);
      w.start();
    }
  };
  return async (cores, job) => {
    const need = Math.min(Math.max(cores, 1), capacity);
    await new Promise<void>((start) => {
      waiting.push({ cores: need, start });
      pump();
    });
    try {
      return await job();
    } finally {
      free += need;
      pump();
    }
  };
}
