import { orderNote, runOrder } from '../../scripts/bench/run-order';

describe('bench run order', () => {
  it('alternates which server goes first, so each goes first equally often over an even number of runs', () => {
    const firsts = Array.from({ length: 6 }, (_, run) => runOrder(run, 2)[0]);
    expect(firsts).toEqual([0, 1, 0, 1, 0, 1]);
    for (let run = 0; run < 6; run++) expect([...runOrder(run, 2)].sort()).toEqual([0, 1]); // each measured once a run
  });

  it('keeps the given order with fixed, and a single server is always alone', () => {
    expect(Array.from({ length: 4 }, (_, run) => runOrder(run, 2, true))).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    expect(runOrder(1, 1)).toEqual([0]);
  });

  it('says in the report which order was used', () => {
    expect(orderNote(['Switchboard', 'relay'], true)).toBe(
      'each run measures Switchboard and then relay, back to back',
    );
    expect(orderNote(['Switchboard', 'relay'], false)).toContain('relay first in runs 2, 4, 6');
    expect(orderNote(['Switchboard'], false)).toBe('');
  });
});
