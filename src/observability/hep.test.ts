// HEP3 encoder and exporter, checked by a decoder written here from the spec table (not from
// hep.ts): every chunk's vendor, type and length are walked and checked, then each field is
// compared with the record. The loopback tests send through a real UDP socket to 127.0.0.1 and ::1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { HepEncodeError, HepExporter, encodeHep3, parseHepTarget } from './hep.js';
import type { MessageRecord } from './message-record.js';

interface Decoded {
  family?: number;
  protocol?: number;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  seconds?: number;
  micros?: number;
  protoType?: number;
  captureId?: number;
  password?: string;
  payload?: Buffer;
  correlationId?: string;
  nodeName?: string;
  /** Chunk type ids in order of appearance. */
  types: number[];
}

/** Fixed body sizes from the HEP3 spec's generic chunk table (type → bytes after the 6-byte header). */
const FIXED: Record<number, number> = { 1: 1, 2: 1, 3: 4, 4: 4, 5: 16, 6: 16, 7: 2, 8: 2, 9: 4, 10: 4, 11: 1, 12: 4 };

function v6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function decode(pkt: Buffer): Decoded {
  assert.equal(pkt.subarray(0, 4).toString('latin1'), 'HEP3', 'magic');
  assert.equal(pkt.readUInt16BE(4), pkt.length, 'total length = whole packet, header included');
  const d: Decoded = { types: [] };
  let pos = 6;
  while (pos < pkt.length) {
    assert.ok(pos + 6 <= pkt.length, `chunk header at ${pos} runs past the end`);
    const vendor = pkt.readUInt16BE(pos);
    const type = pkt.readUInt16BE(pos + 2);
    const len = pkt.readUInt16BE(pos + 4);
    assert.equal(vendor, 0, `chunk ${type}: vendor 0x0000 (generic)`);
    assert.ok(len >= 6, `chunk ${type}: length ${len} counts its 6-byte header`);
    assert.ok(pos + len <= pkt.length, `chunk ${type}: length ${len} runs past the end`);
    const body = pkt.subarray(pos + 6, pos + len);
    if (FIXED[type] !== undefined) assert.equal(body.length, FIXED[type], `chunk ${type}: body size`);
    assert.ok(!d.types.includes(type), `chunk ${type} appears twice`);
    d.types.push(type);
    switch (type) {
      case 1: d.family = body[0]; break;
      case 2: d.protocol = body[0]; break;
      case 3: d.src = [...body].join('.'); break;
      case 4: d.dst = [...body].join('.'); break;
      case 5: d.src = v6Text(body); break;
      case 6: d.dst = v6Text(body); break;
      case 7: d.srcPort = body.readUInt16BE(0); break;
      case 8: d.dstPort = body.readUInt16BE(0); break;
      case 9: d.seconds = body.readUInt32BE(0); break;
      case 10: d.micros = body.readUInt32BE(0); break;
      case 11: d.protoType = body[0]; break;
      case 12: d.captureId = body.readUInt32BE(0); break;
      case 14: d.password = body.toString('utf8'); break;
      case 15: d.payload = Buffer.from(body); break;
      case 17: d.correlationId = body.toString('utf8'); break;
      case 19: d.nodeName = body.toString('utf8'); break;
      default: assert.fail(`unexpected chunk type 0x${type.toString(16)}`);
    }
    pos += len;
  }
  assert.equal(pos, pkt.length, 'chunks end exactly at the packet end');
  return d;
}

const INVITE =
  'INVITE sip:bob@192.0.2.20 SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: Bob <sip:bob@192.0.2.20>\r\n' +
  'From: Alice <sip:alice@192.0.2.10>;tag=1928301774\r\n' +
  'Call-ID: a84b4c76e66710@pc33.example.com\r\n' +
  'CSeq: 314159 INVITE\r\n' +
  'Subject: caf\u00e9 \u2615\r\n' + // non-ASCII: the payload must stay byte-exact
  'Contact: <sip:alice@192.0.2.10>\r\n' +
  'Content-Length: 0\r\n\r\n';

function record(over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    seq: 1,
    time: 1_700_000_000_123.456, // 2023-11-14T22:13:20.123456Z
    direction: 'sent',
    transport: 'udp',
    local: '192.0.2.10:5060',
    remote: '192.0.2.20:5070',
    startLine: 'INVITE sip:bob@192.0.2.20 SIP/2.0',
    method: 'INVITE',
    callId: 'a84b4c76e66710@pc33.example.com',
    cseq: '314159 INVITE',
    bytes: Buffer.from(INVITE, 'utf8'),
    ...over,
  };
}

test('IPv4 UDP, sent: every chunk well formed, source = local, fields equal the record', () => {
  const r = record();
  const d = decode(encodeHep3(r, { captureId: 2001 }));
  assert.deepEqual(d.types, [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 17, 15], 'no password/node-name chunk unless set');
  assert.equal(d.family, 2);
  assert.equal(d.protocol, 17);
  assert.equal(d.src, '192.0.2.10');
  assert.equal(d.srcPort, 5060);
  assert.equal(d.dst, '192.0.2.20');
  assert.equal(d.dstPort, 5070);
  assert.equal(d.seconds, 1_700_000_000);
  assert.equal(d.micros, 123_456);
  assert.equal(d.protoType, 1);
  assert.equal(d.captureId, 2001);
  assert.equal(d.correlationId, r.callId);
  assert.ok(d.payload!.equals(r.bytes), 'payload byte-exact');
});

test('IPv6 TCP, received: source = remote, IPv6 chunks 5/6, protocol 6', () => {
  const r = record({
    direction: 'received',
    transport: 'tcp',
    local: '[2001:db8::10]:5060',
    remote: '[2001:db8:0:1::20]:40123',
    time: 1_700_000_001_000.001,
  });
  const d = decode(encodeHep3(r, { captureId: 7 }));
  assert.deepEqual(d.types, [1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 17, 15]);
  assert.equal(d.family, 10);
  assert.equal(d.protocol, 6);
  assert.equal(d.src, '2001:db8:0:1:0:0:0:20');
  assert.equal(d.srcPort, 40123);
  assert.equal(d.dst, '2001:db8:0:0:0:0:0:10');
  assert.equal(d.dstPort, 5060);
  assert.equal(d.seconds, 1_700_000_001);
  assert.equal(d.micros, 1);
  assert.equal(d.captureId, 7);
  assert.ok(d.payload!.equals(r.bytes));
});

test('password and node name: chunks 0x000e and 0x0013 carry them; TLS/WS/WSS are TCP', () => {
  for (const transport of ['tls', 'ws', 'wss']) {
    const d = decode(encodeHep3(record({ transport }), { captureId: 0xffffffff, password: 'myHep', nodeName: 'sb-edge-1' }));
    assert.equal(d.protocol, 6, transport);
    assert.equal(d.password, 'myHep');
    assert.equal(d.nodeName, 'sb-edge-1');
    assert.equal(d.captureId, 0xffffffff);
    assert.ok(d.types.includes(14) && d.types.includes(19));
  }
});

test('no Call-ID: no correlation chunk; microseconds that round up carry into the seconds', () => {
  const d = decode(encodeHep3(record({ callId: '', time: 1_700_000_000_999.9996 }), { captureId: 1 }));
  assert.ok(!d.types.includes(17));
  assert.equal(d.seconds, 1_700_000_001);
  assert.equal(d.micros, 0);
});

test('families: v4-mapped pairs go as IPv4, a v4/v6 mix as IPv6 with ::ffff:, a zone id is dropped', () => {
  const mapped = decode(encodeHep3(record({ local: '[::ffff:10.0.0.1]:5060', remote: '[::ffff:10.0.0.2]:5060' }), { captureId: 1 }));
  assert.equal(mapped.family, 2);
  assert.equal(mapped.src, '10.0.0.1');
  assert.equal(mapped.dst, '10.0.0.2');
  const mixed = decode(encodeHep3(record({ local: '10.0.0.1:5060', remote: '[fe80::1%eth0]:5062' }), { captureId: 1 }));
  assert.equal(mixed.family, 10);
  assert.equal(mixed.src, '0:0:0:0:0:ffff:a00:1');
  assert.equal(mixed.dst, 'fe80:0:0:0:0:0:0:1');
  const tail = decode(encodeHep3(record({ local: '[64:ff9b::192.0.2.33]:1', remote: '[::1]:2' }), { captureId: 1 }));
  assert.equal(tail.src, '64:ff9b:0:0:0:0:c000:221');
  assert.equal(tail.dst, '0:0:0:0:0:0:0:1');
});

test('unencodable records throw HepEncodeError with a code', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof HepEncodeError, String(err));
      return err.code;
    }
    assert.fail('did not throw');
  };
  assert.equal(code(() => encodeHep3(record({ remote: 'pbx.example.com:5060' }), { captureId: 1 })), 'HEP_ERR_ADDRESS');
  assert.equal(code(() => encodeHep3(record({ transport: 'carrier-pigeon' }), { captureId: 1 })), 'HEP_ERR_TRANSPORT');
  assert.equal(code(() => encodeHep3(record({ bytes: Buffer.alloc(70_000, 0x41) }), { captureId: 1 })), 'HEP_ERR_TOO_LARGE');
  assert.equal(code(() => encodeHep3(record(), { captureId: -1 })), 'HEP_ERR_OPTION');
});

test('parseHepTarget: udp with IPv4 or [IPv6]; every refusal names the problem', () => {
  assert.deepEqual(parseHepTarget('udp:127.0.0.1:9060'), { transport: 'udp', host: '127.0.0.1', port: 9060, family: 4 });
  assert.deepEqual(parseHepTarget('udp:[::1]:9060'), { transport: 'udp', host: '::1', port: 9060, family: 6 });
  assert.throws(() => parseHepTarget('x'), { message: 'hep target "x": expected udp:HOST:PORT' });
  assert.throws(() => parseHepTarget('127.0.0.1:9060'), /expected udp:HOST:PORT/);
  assert.throws(() => parseHepTarget('tcp:127.0.0.1:9060'), /"tcp" is not supported \(only udp\)/);
  assert.throws(() => parseHepTarget('udp:homer.local:9060'), /is not an IPv4 address or a bracketed IPv6/);
  assert.throws(() => parseHepTarget('udp:::1:9060'), /must be in brackets/);
  assert.throws(() => parseHepTarget('udp:127.0.0.1:0'), /out of range/);
  assert.throws(() => parseHepTarget('udp:127.0.0.1:70000'), /out of range/);
  assert.throws(() => new HepExporter({ target: 'udp:1.2.3.4:9', captureId: 1.5 }), /capture id/);
});

/** A collector on `host`, port 0: resolves each datagram it gets. */
async function collector(type: 'udp4' | 'udp6', host: string) {
  const sock = dgram.createSocket(type);
  const got: Buffer[] = [];
  const waiters: Array<() => void> = [];
  sock.on('message', (m) => {
    got.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((res) => sock.bind(0, host, () => res()));
  return {
    port: sock.address().port,
    async take(n: number, timeoutMs = 3000): Promise<Buffer[]> {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`collector got ${got.length} of ${n} datagrams`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, left);
          waiters.push(() => {
            clearTimeout(t);
            res();
          });
        });
      }
      return got.splice(0, n);
    },
    close: () => new Promise<void>((res) => sock.close(() => res())),
  };
}

for (const [type, host, target] of [
  ['udp4', '127.0.0.1', (p: number) => `udp:127.0.0.1:${p}`],
  ['udp6', '::1', (p: number) => `udp:[::1]:${p}`],
] as const) {
  test(`loopback round trip to ${host}: the datagram decodes to the record, field by field`, async (t) => {
    const c = await collector(type, host).catch((err: Error) => err);
    if (c instanceof Error) {
      // Only an environment without an IPv6 loopback gets here; IPv4 must always work.
      if (type === 'udp6') return t.skip(`no IPv6 loopback (${c.message})`);
      throw c;
    }
    const exp = new HepExporter({ target: target(c.port), captureId: 4242, password: 'pw', nodeName: 'node-a' });
    try {
      await exp.start();
      const inv = record({ seq: 1 });
      const ok = record({
        seq: 2,
        time: 1_700_000_000_223.5,
        direction: 'received',
        local: '[2001:db8::10]:5060',
        remote: '[2001:db8::20]:5070',
        transport: 'wss',
        startLine: 'SIP/2.0 200 OK',
        status: 200,
        bytes: Buffer.from('SIP/2.0 200 OK\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\nContent-Length: 0\r\n\r\n'),
      });
      exp.export(inv);
      exp.export(record({ remote: 'no-such-host.invalid:5060' })); // unencodable: dropped, not sent
      exp.export(ok);
      const [a, b] = await c.take(2);
      const da = decode(a!);
      assert.equal(da.family, 2);
      assert.equal(da.protocol, 17);
      assert.equal(da.src, '192.0.2.10');
      assert.equal(da.srcPort, 5060);
      assert.equal(da.dst, '192.0.2.20');
      assert.equal(da.dstPort, 5070);
      assert.equal(da.seconds, 1_700_000_000);
      assert.equal(da.micros, 123_456);
      assert.equal(da.protoType, 1);
      assert.equal(da.captureId, 4242);
      assert.equal(da.password, 'pw');
      assert.equal(da.nodeName, 'node-a');
      assert.equal(da.correlationId, inv.callId);
      assert.ok(da.payload!.equals(inv.bytes), 'INVITE payload byte-exact');

      const db = decode(b!);
      assert.equal(db.family, 10);
      assert.equal(db.protocol, 6);
      assert.equal(db.src, '2001:db8:0:0:0:0:0:20', 'received: source is the remote end');
      assert.equal(db.srcPort, 5070);
      assert.equal(db.dst, '2001:db8:0:0:0:0:0:10');
      assert.equal(db.dstPort, 5060);
      assert.equal(db.seconds, 1_700_000_000);
      assert.equal(db.micros, 223_500);
      assert.equal(db.captureId, 4242);
      assert.equal(db.correlationId, ok.callId);
      assert.ok(db.payload!.equals(ok.bytes), '200 payload byte-exact');

      // Send callbacks run after the datagrams left; give them a turn.
      for (let i = 0; i < 50 && exp.sent < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(exp.sent, 2);
      assert.equal(exp.dropped, 1);
      assert.ok(exp.lastError instanceof HepEncodeError);
    } finally {
      await exp.close();
      await c.close();
    }
    // After close: counted as dropped, never thrown.
    exp.export(record());
    assert.equal(exp.dropped, 2);
  });
}

test('export before start() drops instead of throwing', () => {
  const exp = new HepExporter({ target: 'udp:127.0.0.1:9' });
  assert.doesNotThrow(() => exp.export(record()));
  assert.equal(exp.dropped, 1);
  assert.equal(exp.sent, 0);
});
