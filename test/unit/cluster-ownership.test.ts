/**
 * LocalOwnership (src/cluster/ownership.ts): one process's call leases, shareable between in-process
 * apps (the two-instance tests). The contract every CallOwnership keeps: a call has one owner; a claim
 * by another instance fails while it holds it; the owner's release frees it; other instances hear of
 * a claim (onClaimedElsewhere), the claimer does not; separate registries never see each other.
 */
import { LocalOwnership } from '../../src/cluster/ownership';

describe('LocalOwnership', () => {
  it('gives a call one owner: a second instance cannot claim it until the owner releases it', async () => {
    const shared = {};
    const a = new LocalOwnership('a', shared);
    const b = new LocalOwnership('b', shared);
    expect(await a.ownerOf('call-1')).toBeUndefined();
    expect(await a.claim('call-1')).toBe(true);
    // Claiming again is idempotent for the owner, refused for anyone else.
    expect(await a.claim('call-1')).toBe(true);
    expect(await b.claim('call-1')).toBe(false);
    expect(await b.ownerOf('call-1')).toBe('a');
    // Only the owner's release frees it.
    await b.release('call-1');
    expect(await a.ownerOf('call-1')).toBe('a');
    await a.release('call-1');
    expect(await b.ownerOf('call-1')).toBeUndefined();
    expect(await b.claim('call-1')).toBe(true);
    expect(await a.ownerOf('call-1')).toBe('b');
    await Promise.all([a.close(), b.close()]);
  });

  it('tells the other instances of a claim, once, and not the claimer; unsubscribe and close stop it', async () => {
    const shared = {};
    const a = new LocalOwnership('a', shared);
    const b = new LocalOwnership('b', shared);
    const c = new LocalOwnership('c', shared);
    const heardByA: string[] = [];
    const heardByB: string[] = [];
    const heardByC: string[] = [];
    a.onClaimedElsewhere((callId, owner) => heardByA.push(`${callId}@${owner}`));
    const stopB = b.onClaimedElsewhere((callId, owner) => heardByB.push(`${callId}@${owner}`));
    c.onClaimedElsewhere((callId, owner) => heardByC.push(`${callId}@${owner}`));
    await b.claim('call-1');
    await b.claim('call-1');
    expect(heardByA).toEqual(['call-1@b']);
    expect(heardByC).toEqual(['call-1@b']);
    expect(heardByB).toEqual([]);
    stopB();
    await c.close();
    await a.claim('call-2');
    expect(heardByB).toEqual([]);
    expect(heardByC).toEqual(['call-1@b']);
    expect(await a.leases()).toEqual([
      { callId: 'call-1', instanceId: 'b', claimedAt: expect.any(Number) },
      { callId: 'call-2', instanceId: 'a', claimedAt: expect.any(Number) },
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps separate registries apart (each instance alone by default)', async () => {
    const a = new LocalOwnership('a');
    const b = new LocalOwnership('b');
    let heard = 0;
    a.onClaimedElsewhere(() => heard++);
    expect(await a.claim('call-1')).toBe(true);
    expect(await b.claim('call-1')).toBe(true);
    expect(await a.ownerOf('call-1')).toBe('a');
    expect(await b.ownerOf('call-1')).toBe('b');
    expect(heard).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });
});
