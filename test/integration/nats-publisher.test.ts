/**
 * pgcdc's own NATS connection (src/sink/nats-publisher.ts): its protocol
 * reading against a scripted protocol peer on loopback (frames split at every
 * byte, statuses, server PINGs, refusals, garbage), and TLS against a real
 * nats-server with a certificate made for the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsPublisher, parseServer, type InboundMessage } from '../../src/sink/nats-publisher.ts';
import { startNats, type TestNats } from '../support/nats.ts';

const INFO = 'INFO {"server_id":"peer","version":"2.9.0","headers":true,"max_payload":1048576}\r\n';

/** A NATS protocol peer: sends INFO, then lets `script` talk to the client once it has sent CONNECT and PING. */
async function peer(script: (socket: Socket, received: () => string) => void | Promise<void>): Promise<{ server: Server; url: string }> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let received = '';
    let started = false;
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (!started && /^CONNECT \{.*\}\r\nPING\r\n/.test(received)) {
        started = true;
        void script(socket, () => received);
      }
    });
    socket.on('error', () => undefined);
    socket.write(INFO);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `127.0.0.1:${address.port}` };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function collect(publisher: NatsPublisher): Array<{ subject: string; status: number | undefined; payload: string }> {
  const messages: Array<{ subject: string; status: number | undefined; payload: string }> = [];
  publisher.onMessage = (m: InboundMessage) => messages.push({ subject: m.subject.toString(), status: m.status, payload: m.payload.toString() });
  return messages;
}

describe('NATS publisher connection', () => {
  test('frames split at every byte are read whole: MSG with and without reply, HMSG with a 503 status, INFO updates; server PINGs are answered', async () => {
    const frames = [
      'PING\r\n',
      'MSG _INBOX.x.0000000a 1 28\r\n{"stream":"S","seq":1}\r\n'.replace('28', String('{"stream":"S","seq":1}'.length)),
      'HMSG _INBOX.x.0000000b 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n',
      'INFO {"max_payload":2048}\r\n',
      '+OK\r\n',
      'MSG _INBOX.x.0000000c 1 _INBOX.reply 5\r\nhé!\r\n'.replace(' 5\r\n', ` ${Buffer.byteLength('hé!')}\r\n`),
    ].join('');
    const { server, url } = await peer(async (socket) => {
      socket.write('PONG\r\n');
      // One byte per write, each after the previous had time to go out on its own.
      for (const byte of Buffer.from(frames)) {
        socket.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 1));
      }
      // And all of it again in one write.
      socket.write(frames);
    });
    const publisher = new NatsPublisher({ servers: [url], timeoutMs: 5000 });
    const messages = collect(publisher);
    try {
      await publisher.connect('_INBOX.x.*');
      await eventually(() => messages.length === 6, 'six messages');
      const expected = [
        { subject: '_INBOX.x.0000000a', status: undefined, payload: '{"stream":"S","seq":1}' },
        { subject: '_INBOX.x.0000000b', status: 503, payload: '' },
        { subject: '_INBOX.x.0000000c', status: undefined, payload: 'hé!' },
      ];
      assert.deepEqual(messages, [...expected, ...expected]);
      assert.equal(publisher.info.max_payload, 2048);
    } finally {
      await publisher.close();
      server.close();
    }
  });

  test('the client subscribes after the handshake and answers a server PING with PONG', async () => {
    let received = () => '';
    const { server, url } = await peer((socket, r) => {
      received = r;
      socket.write('PONG\r\nPING\r\n');
    });
    const publisher = new NatsPublisher({ servers: [url], timeoutMs: 5000 });
    try {
      await publisher.connect('_INBOX.y.*');
      await eventually(() => /PONG\r\n/.test(received()), 'the PONG');
      const text = received();
      const connect = JSON.parse(/^CONNECT (\{.*\})\r\n/.exec(text)![1]!) as Record<string, unknown>;
      assert.equal(connect.headers, true);
      assert.equal(connect.no_responders, true);
      assert.equal(connect.verbose, false);
      // After CONNECT and PING: the subscription, and the answer to the server's PING (in either order).
      const rest = text.slice(text.indexOf('\r\nPING\r\n') + 8).split('\r\n').filter(Boolean).sort();
      assert.deepEqual(rest, ['PONG', 'SUB _INBOX.y.* 1']);
    } finally {
      await publisher.close();
      server.close();
    }
  });

  test('refusals and garbage: -ERR in the handshake, a server that is not NATS, an unreadable frame, nobody listening', async () => {
    const refusing = await peer((socket) => { socket.end("-ERR 'Authorization Violation'\r\n"); });
    const http = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const garbled = await peer((socket) => { socket.write('PONG\r\n'); setTimeout(() => socket.write('MSG nonsense\r\n'), 50); });
    try {
      await assert.rejects(new NatsPublisher({ servers: [refusing.url], timeoutMs: 5000 }).connect('s'), /NATS refused: Authorization Violation/);
      const httpUrl = `127.0.0.1:${(http.address() as { port: number }).port}`;
      await assert.rejects(new NatsPublisher({ servers: [httpUrl], timeoutMs: 5000 }).connect('s'), /not a NATS server \(it said "HTTP\/1\.1 400 Bad Request"\)/);
      await assert.rejects(new NatsPublisher({ servers: ['127.0.0.1:1'], timeoutMs: 5000 }).connect('s'), /127\.0\.0\.1:1: connect ECONNREFUSED/);

      const publisher = new NatsPublisher({ servers: [garbled.url], timeoutMs: 5000 });
      let closedBecause: string | undefined;
      publisher.onClose = (reason) => { closedBecause = reason; };
      await publisher.connect('s');
      await eventually(() => closedBecause !== undefined, 'the connection to close');
      assert.match(closedBecause!, /unreadable frame from NATS: "MSG nonsense"/);
      assert.equal(publisher.connected, false);
      assert.equal(publisher.send(Buffer.from('PING\r\n')), false);
    } finally {
      refusing.server.close();
      http.close();
      garbled.server.close();
    }
  });

  test('server addresses: host:port, schemes, default port, IPv6', () => {
    assert.deepEqual(parseServer('127.0.0.1:4333'), { host: '127.0.0.1', port: 4333, tls: false });
    assert.deepEqual(parseServer('nats://broker.internal'), { host: 'broker.internal', port: 4222, tls: false });
    assert.deepEqual(parseServer('tls://broker.internal:4443'), { host: 'broker.internal', port: 4443, tls: true });
    assert.deepEqual(parseServer('[::1]:4222'), { host: '::1', port: 4222, tls: false });
  });
});

describe('NATS publisher connection over TLS (real nats-server)', () => {
  let dir: string;
  let nats: TestNats;
  let ca: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgcdc-nats-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    nats = await startNats({ args: ['--tlscert', join(dir, 'cert.pem'), '--tlskey', join(dir, 'key.pem')] });
  });

  after(async () => {
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the server requires TLS: the connection upgrades after INFO and works; a certificate nobody vouches for is refused readably', async () => {
    const publisher = new NatsPublisher({ servers: [nats.url], timeoutMs: 5000, tls: { ca } });
    const messages = collect(publisher);
    try {
      await publisher.connect('_INBOX.tls.*');
      assert.equal(publisher.info.tls_required, true);
      assert.equal(publisher.send(Buffer.from('PUB _INBOX.tls.00000001 5\r\nhello\r\n')), true);
      await eventually(() => messages.length === 1, 'the message back');
      assert.deepEqual(messages, [{ subject: '_INBOX.tls.00000001', status: undefined, payload: 'hello' }]);
    } finally {
      await publisher.close();
    }
    await assert.rejects(new NatsPublisher({ servers: [nats.url], timeoutMs: 5000 }).connect('s'), /TLS: self[- ]signed certificate/);
  });
});
