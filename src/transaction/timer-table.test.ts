import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as t from './timer-table.js';

const cfg = t.DEFAULT_TIMER_CONFIG;

describe('timer table (RFC 3261 §17, Appendix A; RFC 6026 §7)', () => {
  it('MUST default T1=500 ms, T2=4 s, T4=5 s and the 100 Trying deadline to 200 ms', () => {
    assert.deepEqual({ ...cfg }, { T1: 500, T2: 4000, T4: 5000, timer100TryingMs: 200 });
  });

  it('MUST set A=T1, B=64·T1, E=T1, F=64·T1, G=T1, H=64·T1, L=64·T1, M=64·T1', () => {
    assert.equal(t.A(cfg), 500);
    assert.equal(t.B(cfg), 32000);
    assert.equal(t.E(cfg), 500);
    assert.equal(t.F(cfg), 32000);
    assert.equal(t.G(cfg), 500);
    assert.equal(t.H(cfg), 32000);
    assert.equal(t.L(cfg), 32000);
    assert.equal(t.M(cfg), 32000);
  });

  it('MUST set Timer D to at least 32 s on unreliable transports and 0 on reliable ones (RFC 3261 §17.1.1.2)', () => {
    assert.equal(t.D(cfg, false), 32000);
    assert.equal(t.D(cfg, true), 0);
    assert.equal(t.D(t.timerConfig({ T1: 100 }), false), 32000, 'never below 32 s');
    assert.equal(t.D(t.timerConfig({ T1: 1000, T2: 4000 }), false), 64000, 'follows 64·T1 when T1 is raised');
  });

  it('MUST set I=T4, K=T4, J=64·T1 unreliable and 0 for reliable transports (RFC 3261 §17.1.2.2, §17.2.1, §17.2.2)', () => {
    assert.equal(t.I(cfg, false), 5000);
    assert.equal(t.K(cfg, false), 5000);
    assert.equal(t.J(cfg, false), 32000);
    assert.equal(t.I(cfg, true), 0);
    assert.equal(t.K(cfg, true), 0);
    assert.equal(t.J(cfg, true), 0);
  });

  it('MUST derive every timer from the configured T1/T4, not from constants', () => {
    const c = t.timerConfig({ T1: 100, T2: 400, T4: 1000 });
    assert.equal(t.B(c), 6400);
    assert.equal(t.F(c), 6400);
    assert.equal(t.K(c, false), 1000);
  });

  it('rejects nonsensical configuration (misuse)', () => {
    assert.throws(() => t.timerConfig({ T1: 0 }), RangeError);
    assert.throws(() => t.timerConfig({ T1: 5000, T2: 4000 }), RangeError);
  });

  describe('nextInterval', () => {
    function sequence(first: number, cap: number, n: number): number[] {
      const out = [first];
      while (out.length < n) out.push(t.nextInterval(out[out.length - 1]!, cap));
      return out;
    }

    it('MUST double INVITE retransmit intervals without a cap: T1, 2T1, 4T1 … (RFC 3261 §17.1.1.2)', () => {
      assert.deepEqual(sequence(t.A(cfg), t.A_CAP, 7), [500, 1000, 2000, 4000, 8000, 16000, 32000]);
    });

    it('MUST double non-INVITE retransmit intervals capped at T2: 500, 1000, 2000, 4000, 4000 ms (RFC 3261 §17.1.2.2)', () => {
      assert.deepEqual(sequence(t.E(cfg), cfg.T2, 6), [500, 1000, 2000, 4000, 4000, 4000]);
    });

    it('MUST double Timer G capped at T2 (RFC 3261 §17.2.1)', () => {
      assert.deepEqual(sequence(t.G(cfg), cfg.T2, 5), [500, 1000, 2000, 4000, 4000]);
    });
  });
});
