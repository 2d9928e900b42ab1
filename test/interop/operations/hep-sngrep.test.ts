// HEP3 export into a real collector: sngrep (Debian package, 1.6.0, "Compiled with EEP/HEP
// support") listens for HEP on loopback and writes what it receives to a pcap file; we send an
// INVITE and its 200 with HepExporter, stop sngrep by PID, and read the pcap back.
//
// sngrep's own flags: -N (no interface, just capture: no curses, so no tty or TERM needed),
// -q (do not print the dialog count), -F (ignore /etc/sngreprc and ~/.sngreprc), -f FILE (our
// config: `set eep.listen.pass …`), -L udp:127.0.0.1:PORT (HEP listener, IPv4 only in 1.6.0),
// -O FILE (pcap output). For each HEP packet, sngrep 1.6.0 (src/capture_eep.c,
// capture_eep_receive_v3 + capture_eep_build_frame_data) rebuilds an Ethernet/IPv4/UDP frame
// from the HEP chunks — addresses 0x0003/0x0004, ports 0x0007/0x0008, time 0x0009/0x000a,
// payload 0x000f — and dumps it (linktype 1). So the pcap shows exactly what sngrep decoded from
// our packets: the test compares those fields, not just the presence of the start lines.
// sngrep drops a packet whose auth key (0x000e) does not match eep.listen.pass: a BYE sent without
// the password first must be missing from the pcap.
//
// sngrep 1.6.0 rebuilds an IPv4 header even for IPv6 HEP packets (its inet_pton(AF_INET, …) of a
// v6 address fails, leaving 0.0.0.0), so IPv6 is checked by the unit test's decoder only.
//
// Bounded: sngrep must listen within 5 s, the packets must appear within 4 s, stop is SIGTERM then
// SIGKILL after 3 s; the child's hard lifetime is 14 s and the test's timeout 15 s. Skips only
// when sngrep is not installed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HepExporter } from '../../../src/observability/hep.js';
import type { MessageRecord } from '../../../src/observability/message-record.js';
import { freePort, isListening, startProcess, stopAll, type Managed } from '../../harness/processes.js';

const SNGREP = '/usr/bin/sngrep';
const PASSWORD = 'hep-s3cret';
const dir = mkdtempSync(join(tmpdir(), 'hep-sngrep-'));
const exporters: HepExporter[] = [];

after(async () => {
  for (const e of exporters) await e.close();
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CALL_ID = '3848276298220188511@atlanta.example.com';
const BASE_TIME = 1_700_000_000_123.456; // ms since the epoch; HEP carries .123456 s

function sip(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8');
}

const INVITE = sip([
  'INVITE sip:bob@192.0.2.10:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bK74bf9',
  'Max-Forwards: 70',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>',
  `Call-ID: ${CALL_ID}`,
  'CSeq: 2 INVITE',
  'Contact: <sip:alice@192.0.2.20:5070>',
  'Content-Length: 0',
]);

const OK = sip([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bK74bf9',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
  `Call-ID: ${CALL_ID}`,
  'CSeq: 2 INVITE',
  'Contact: <sip:bob@192.0.2.10:5060>',
  'Content-Length: 0',
]);

const BYE = sip([
  'BYE sip:alice@192.0.2.20:5070 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7',
  'Max-Forwards: 70',
  'From: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
  'To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  `Call-ID: ${CALL_ID}`,
  'CSeq: 1 BYE',
  'Content-Length: 0',
]);

/** Our end is 192.0.2.10:5060 (a proxy), Alice's is 192.0.2.20:5070. Only HEP data: no SIP is sent. */
function rec(seq: number, direction: 'sent' | 'received', startLine: string, bytes: Buffer, offsetMs: number): MessageRecord {
  return {
    seq,
    time: BASE_TIME + offsetMs,
    direction,
    transport: 'udp',
    local: '192.0.2.10:5060',
    remote: '192.0.2.20:5070',
    startLine,
    method: startLine.startsWith('SIP/2.0') ? 'INVITE' : startLine.split(' ')[0]!,
    ...(startLine.startsWith('SIP/2.0') ? { status: 200 } : {}),
    callId: CALL_ID,
    cseq: startLine.startsWith('BYE') ? '1 BYE' : '2 INVITE',
    bytes,
  };
}

interface Frame {
  tsSec: number;
  tsUsec: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/**
 * The classic pcap format (tcpdump's pcap-savefile(5)): a 24-byte global header (magic
 * 0xa1b2c3d4 in the writer's byte order, version 2.4, snaplen, linktype), then records of a
 * 16-byte header (ts_sec, ts_usec, incl_len, orig_len) and incl_len bytes. Linktype 1 is
 * Ethernet; the frames are Ethernet + IPv4 + UDP. A record cut short (a writer killed mid-write)
 * ends the list.
 */
function readPcap(file: Buffer): Frame[] {
  if (file.length < 24) return [];
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4) le = true;
  else if (file.readUInt32BE(0) === 0xa1b2c3d4) le = false;
  else throw new Error(`not a microsecond pcap file (magic 0x${magicLE.toString(16)})`);
  const u16 = (o: number) => (le ? file.readUInt16LE(o) : file.readUInt16BE(o));
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  assert.equal(u16(4), 2, 'pcap major version');
  assert.equal(u16(6), 4, 'pcap minor version');
  assert.equal(u32(20), 1, 'linktype 1 (Ethernet), as sngrep builds its HEP frames');
  const frames: Frame[] = [];
  let pos = 24;
  while (pos + 16 <= file.length) {
    const inclLen = u32(pos + 8);
    if (pos + 16 + inclLen > file.length) break;
    const data = file.subarray(pos + 16, pos + 16 + inclLen);
    const tsSec = u32(pos);
    const tsUsec = u32(pos + 4);
    pos += 16 + inclLen;
    // Ethernet: 14 bytes, EtherType at 12 (network order from here on).
    assert.equal(data.readUInt16BE(12), 0x0800, 'EtherType IPv4');
    const ip = data.subarray(14);
    assert.equal(ip[0]! >> 4, 4, 'IP version 4');
    const ihl = (ip[0]! & 0x0f) * 4;
    assert.equal(ip[9], 17, 'IP protocol UDP');
    const udp = ip.subarray(ihl);
    const udpLen = udp.readUInt16BE(4);
    frames.push({
      tsSec,
      tsUsec,
      src: [...ip.subarray(12, 16)].join('.'),
      dst: [...ip.subarray(16, 20)].join('.'),
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udpLen)),
    });
  }
  return frames;
}

const startLine = (b: Buffer) => b.subarray(0, b.indexOf('\r\n')).toString('latin1');

test('sngrep receives HEP3 from HepExporter and writes the INVITE and the 200 to its pcap', { timeout: 15_000 }, async (t) => {
  if (!existsSync(SNGREP)) {
    t.skip(`sngrep is not installed (${SNGREP} missing; Debian package "sngrep")`);
    return;
  }
  const port = await freePort('udp', '127.0.0.1');
  const pcap = join(dir, 'capture.pcap');
  const conf = join(dir, 'sngreprc');
  writeFileSync(conf, `set eep.listen.pass ${PASSWORD}\n`);

  const sngrep: Managed = await startProcess(
    SNGREP,
    ['-N', '-q', '-F', '-f', conf, '-L', `udp:127.0.0.1:${port}`, '-O', pcap],
    { readyCheck: () => isListening('udp', port), timeoutMs: 5000, maxLifetimeMs: 14_000 },
  );

  const good = new HepExporter({ target: `udp:127.0.0.1:${port}`, captureId: 2001, password: PASSWORD, nodeName: 'switchboard-test' });
  const noPassword = new HepExporter({ target: `udp:127.0.0.1:${port}`, captureId: 2001 });
  exporters.push(good, noPassword);
  await good.start();
  await noPassword.start();

  const invite = rec(1, 'received', 'INVITE sip:bob@192.0.2.10:5060 SIP/2.0', INVITE, 0);
  const ok = rec(2, 'sent', 'SIP/2.0 200 OK', OK, 100.5);
  const bye = rec(3, 'sent', 'BYE sip:alice@192.0.2.20:5070 SIP/2.0', BYE, 200);

  // The unauthenticated BYE goes first: were sngrep to accept it, it would come before the INVITE.
  noPassword.export(bye);
  await sleep(50);
  good.export(invite);
  good.export(ok);

  let frames: Frame[] = [];
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    frames = existsSync(pcap) ? readPcap(readFileSync(pcap)) : [];
    if (frames.length >= 2) break;
    await sleep(100);
  }
  // A little longer, so that a late (wrongly accepted) packet would show too.
  await sleep(300);

  const status = await sngrep.stop(3000);
  const out = sngrep.output();
  frames = readPcap(readFileSync(pcap));
  const diag = `sngrep exit ${JSON.stringify(status)}\nstdout: ${out.stdout}\nstderr: ${out.stderr}\n` +
    `exporters: good sent=${good.sent} dropped=${good.dropped}; noPassword sent=${noPassword.sent} dropped=${noPassword.dropped}`;

  assert.equal(good.dropped, 0, diag);
  assert.deepEqual(frames.map((f) => startLine(f.payload)), [invite.startLine, ok.startLine], `pcap start lines\n${diag}`);

  const [fi, fo] = frames as [Frame, Frame];
  // The INVITE was received: from Alice (remote) to us (local).
  assert.equal(`${fi.src}:${fi.srcPort}`, invite.remote, 'INVITE source = remote');
  assert.equal(`${fi.dst}:${fi.dstPort}`, invite.local, 'INVITE destination = local');
  assert.equal(fi.tsSec, 1_700_000_000);
  assert.equal(fi.tsUsec, 123_456);
  assert.ok(fi.payload.equals(INVITE), 'INVITE payload byte-exact');
  // The 200 was sent: from us to Alice.
  assert.equal(`${fo.src}:${fo.srcPort}`, ok.local, '200 source = local');
  assert.equal(`${fo.dst}:${fo.dstPort}`, ok.remote, '200 destination = remote');
  assert.equal(fo.tsSec, 1_700_000_000);
  assert.equal(fo.tsUsec, 223_956);
  assert.ok(fo.payload.equals(OK), '200 payload byte-exact');
  for (const f of frames) assert.ok(f.payload.includes(`Call-ID: ${CALL_ID}`));
});
