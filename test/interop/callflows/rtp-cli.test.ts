// RTP in the user agent from the command line: `switchboard call --play tone.wav` (a 440 Hz
// tone, 8 kHz mono) → `switchboard answer --media --record out.wav`: both count about 50 packets
// a second with no loss, and the recorded file is the tone again (G.711 µ-law there and back:
// about 880 zero crossings a second).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, tone, writeWav } from '../../../src/media/index.js';
import { stopAll } from '../../harness/processes.js';
import { runSwitchboard } from '../sipp/sipp.js';
import { describeRun, freePorts, startAnswerUa } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

test('call --play tone.wav → answer --media --record: RTP both ways (PCMU), no loss, the recording is the tone', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-rtp-'));
  const [port] = (await freePorts(1)) as [number];
  const wav = join(dir, 'tone.wav');
  const rec = join(dir, 'rec.wav');
  writeFileSync(wav, writeWav(tone(440)(16000)));
  const answer = await startAnswerUa(port, { args: ['--media', '--record', rec, '--max-calls', '1'] });
  try {
    const r = await runSwitchboard(['call', `sip:5000@127.0.0.1:${port}`, '--duration', '2', '--play', wav, '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, describeRun(r));
    const sent = /^RTP PCMU: sent (\d+) packets, received (\d+) \(lost (\d+), jitter ([\d.]+) ms/m.exec(r.stdout);
    assert.ok(sent, r.stdout);
    assert.ok(Number(sent[1]) >= 80 && Number(sent[1]) <= 120, `about 50 packets a second for 2 s: ${sent[1]}`);
    assert.ok(Number(sent[2]) >= 70, `the answerer's packets came back: ${sent[2]}`);
    await answer.waitExit(40_000);
    const out = answer.output().stdout;
    const got = /^RTP PCMU: sent (\d+) packets, received (\d+) \(lost (\d+)/m.exec(out);
    assert.ok(got, out);
    assert.ok(Number(got[2]) >= 70, `received ${got[2]}`);
    assert.equal(got[3], '0', 'no loss on loopback');
    const audio = readWav(readFileSync(rec));
    assert.ok(audio.length >= 70 * 160, `recorded ${audio.length} samples`);
    let crossings = 0;
    for (let i = 1; i < audio.length; i++) if ((audio[i - 1]! < 0) !== (audio[i]! < 0)) crossings++;
    const perSecond = crossings / (audio.length / 8000);
    assert.ok(perSecond > 820 && perSecond < 940, `a 440 Hz tone crosses zero ~880 times a second; the recording: ${perSecond.toFixed(0)}`);
  } finally {
    await answer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('call --play with a file that is not 8 kHz mono 16-bit PCM: a usage error naming the file (exit 2)', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-rtp-'));
  const bad = join(dir, 'bad.wav');
  writeFileSync(bad, Buffer.from('RIFF\0\0\0\0WAVEjunk'));
  try {
    const r = await runSwitchboard(['call', 'sip:5000@127.0.0.1:9', '--play', bad, '--listen', 'udp:127.0.0.1:0'], 15_000);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /--play .*bad\.wav: no data chunk in the WAV file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
