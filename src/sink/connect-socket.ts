/**
 * A TCP connection, or TLS over it, to a broker the sink speaks to itself
 * (Redis, RabbitMQ): resolves once connected (and the TLS handshake is done,
 * checked against Node's trust store and `NODE_EXTRA_CA_CERTS`), rejects with
 * the socket's error or after `timeoutMs`.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { CdcError } from '../core/errors.ts';

export function connectSocket(address: { host: string; port: number; tls: boolean }, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const options = { host: address.host, port: address.port };
    const socket: Socket = address.tls
      // SNI with a host name only: a literal address as servername is refused by some servers.
      ? tlsConnect({ ...options, servername: isIP(address.host) ? undefined : address.host }, () => done())
      : netConnect(options, () => done());
    const timer = setTimeout(() => { socket.destroy(); reject(new CdcError('PGCDC_SINK', `no answer within ${timeoutMs} ms`)); }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once('error', (error) => { clearTimeout(timer); reject(error); });
  });
}
