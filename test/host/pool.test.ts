// The lab runner's core pool (test/pool.ts): how many suites run at once, and in what order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pool } from '../pool.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

/** Runs jobs of the given core counts; returns the start order and the most cores busy at once. */
async function trace(capacity: number, asks: number[]): Promise<{ order: number[]; peak: number }> {
  const run = pool(capacity);
  const order: number[] = [];
  let busy = 0;
  let peak = 0;
  await Promise.all(
    asks.map((cores, i) =>
      run(cores, async () => {
        order.push(i);
        busy += Math.min(cores, capacity);
        peak = Math.max(peak, busy);
        await tick();
        busy -= Math.min(cores, capacity);
      }),
    ),
  );
  return { order, peak };
}

test('single-core suites run two at a time on two cores', async () => {
  const { order, peak } = await trace(2, [1, 1, 1, 1]);
  assert.equal(order, [0, 1, 2, 3]);
  assert.is(peak, 2);
});

test('a two-core suite runs alone, after the single-core ones waiting with it', async () => {
  const run = pool(2);
  const log: string[] = [];
  const job = (name: string, cores: number) =>
    run(cores, async () => {
      log.push(`+${name}`);
      await tick();
      log.push(`-${name}`);
    });
  await Promise.all([job('a', 1), job('mt', 2), job('b', 1), job('c', 1)]);
  const mt = log.indexOf('+mt');
  assert.is(log[mt + 1], '-mt', `nothing ran beside the two-core suite: ${log.join(' ')}`);
  assert.ok(mt > log.indexOf('-c'), `single-core suites went first: ${log.join(' ')}`);
});

test('an ask above the capacity takes the whole pool instead of waiting forever', async () => {
  const { order, peak } = await trace(1, [2, 1]);
  assert.equal(order, [0, 1]);
  assert.is(peak, 1);
});

test('a failing job frees its cores', async () => {
  const run = pool(1);
  await run(1, async () => {
    throw new Error('boom');
  }).catch(() => undefined);
  assert.is(await run(1, async () => 'next'), 'next');
});

test.run();
