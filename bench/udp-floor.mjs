#!/usr/bin/env node
/**
 * The floor under any Node.js registrar on this machine: a UDP responder that answers SIPp's
 * register scenario (../shared/bench/sipp/register.xml) with the least work that passes it —
 * 401 with a fixed challenge to a REGISTER without Authorization, 200 to one with it — and no
 * SIP parsing beyond copying the Via, From, To, Call-ID and CSeq lines. No digest check, no
 * store, no transaction. Whatever CPU per registration it costs (measured by sipp-load.sh like
 * the real servers) is Node's event loop and the four UDP system calls per registration, which
 * any registrar written on Node pays before doing its job.
 *
 * Usage: node bench/udp-floor.mjs [PORT]   (default 5070, 127.0.0.1 only; stop with SIGTERM)
 */
import dgram from 'node:dgram';

const port = Number(process.argv[2] ?? 5070);
const sock = dgram.createSocket('udp4');
const CHALLENGE = 'WWW-Authenticate: Digest realm="127.0.0.1", nonce="0123456789abcdef", qop="auth", algorithm=MD5\r\n';
const COPY = /^(via|v|from|f|to|t|call-id|i|cseq):/i;

sock.on('message', (msg, rinfo) => {
  const text = msg.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end < 0 ? text.length : end).split('\r\n');
  if (!lines[0].startsWith('REGISTER ')) return;
  let out = '';
  let auth = false;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (COPY.test(l)) out += /^(to|t):/i.test(l) ? `${l};tag=floor\r\n` : `${l}\r\n`;
    else if (/^authorization:/i.test(l)) auth = true;
  }
  const head = auth ? 'SIP/2.0 200 OK\r\n' : 'SIP/2.0 401 Unauthorized\r\n';
  const tail = auth ? 'Expires: 3600\r\nContent-Length: 0\r\n\r\n' : `${CHALLENGE}Content-Length: 0\r\n\r\n`;
  sock.send(Buffer.from(head + out + tail, 'latin1'), rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1', () => process.stdout.write(`udp-floor listening on 127.0.0.1:${port}\n`));
process.on('SIGTERM', () => sock.close(() => process.exit(0)));
