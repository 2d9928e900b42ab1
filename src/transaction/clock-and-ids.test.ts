// Tests of src/util/clock.ts and src/util/ids.ts (kept here while util/ has no tests of its own).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock, systemClock } from '../util/clock.js';
import { newBranch, newCallId, newTag, sequentialRandomSource, setRandomSource } from '../util/ids.js';

describe('VirtualClock', () => {
  it('fires due timers in order of due time, ties in the order they were set', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push('c'));
    clock.setTimer(100, () => fired.push('a1'));
    clock.setTimer(100, () => fired.push('a2'));
    clock.setTimer(200, () => fired.push('b'));
    clock.advance(250);
    assert.deepEqual(fired, ['a1', 'a2', 'b']);
    assert.equal(clock.now(), 250);
    clock.advance(50);
    assert.deepEqual(fired, ['a1', 'a2', 'b', 'c']);
  });

  it('fires timers set by callbacks within the same advance when they fall due', () => {
    const clock = new VirtualClock();
    const at: number[] = [];
    clock.setTimer(100, () => {
      at.push(clock.now());
      clock.setTimer(100, () => at.push(clock.now()));
    });
    clock.advance(1000);
    assert.deepEqual(at, [100, 200]);
  });

  it('does not fire cleared timers', () => {
    const clock = new VirtualClock();
    let n = 0;
    const h = clock.setTimer(10, () => n++);
    clock.clearTimer(h);
    clock.advance(100);
    assert.equal(n, 0);
    assert.equal(clock.pending, 0);
  });

  it('systemClock timers can be cleared', () => {
    const h = systemClock.setTimer(10_000, () => assert.fail('must not fire'));
    systemClock.clearTimer(h);
    assert.equal(typeof systemClock.now(), 'number');
  });
});

describe('ids (RFC 3261 §8.1.1.4, §8.1.1.7, §19.3)', () => {
  it('MUST start every branch with the magic cookie z9hG4bK (RFC 3261 §8.1.1.7)', () => {
    const b = newBranch();
    assert.match(b, /^z9hG4bK[0-9a-f]{24}$/);
    assert.notEqual(newBranch(), b);
  });

  it('makes tags and Call-IDs unique, with @host when given', () => {
    assert.match(newTag(), /^[0-9a-f]{16}$/);
    assert.match(newCallId('pc33.atlanta.com'), /^[0-9a-f]{32}@pc33\.atlanta\.com$/);
    assert.notEqual(newCallId(), newCallId());
  });

  it('uses an injected random source, deterministically', () => {
    const prev = setRandomSource(sequentialRandomSource(7));
    try {
      const a = [newBranch(), newTag(), newCallId()];
      setRandomSource(sequentialRandomSource(7));
      const b = [newBranch(), newTag(), newCallId()];
      assert.deepEqual(a, b);
    } finally {
      setRandomSource(prev);
    }
  });
});
