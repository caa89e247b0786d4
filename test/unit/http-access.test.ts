import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { CSRF_HEADER, HttpAccess, TOKEN_COOKIE } from '../../src/console/http-access.ts';

const request = (method: string, headers: Record<string, string>) => ({ method, headers }) as unknown as IncomingMessage;

describe('HttpAccess', () => {
  test('off loopback without a token: refuses to start, saying what to set', () => {
    assert.throws(() => new HttpAccess('0.0.0.0', undefined), /set metrics\.token \(or PGCDC_CONSOLE_TOKEN\).*or bind metrics\.host to 127\.0\.0\.1/);
    assert.throws(() => new HttpAccess('127.0.0.2', ''), /PGCDC_CONSOLE_TOKEN/);
    assert.throws(() => new HttpAccess('0.0.0.0', 'short-one'), /at least 16 characters/, 'the config rule holds for the environment variable too');
  });

  test('loopback without a token: local requests pass, other Host names do not (DNS rebinding)', () => {
    const access = new HttpAccess('127.0.0.1', undefined);
    for (const host of ['127.0.0.1:9464', 'localhost:9464', '[::1]:9464', 'LOCALHOST']) assert.equal(access.check(request('GET', { host })), undefined, host);
    for (const host of ['evil.example:9464', '127.0.0.2:9464', '']) assert.equal(access.check(request('GET', { host }))?.status, 403, host);
  });

  test('with a token: bearer or cookie, compared whole', () => {
    const access = new HttpAccess('0.0.0.0', 'the-token-0123456789');
    const host = 'pgcdc.internal:9464';
    assert.equal(access.check(request('GET', { host }))?.status, 401);
    assert.equal(access.check(request('GET', { host, authorization: 'Bearer the-token-012345678' }))?.status, 401);
    assert.equal(access.check(request('GET', { host, authorization: 'Bearer the-token-0123456789x' }))?.status, 401);
    assert.equal(access.check(request('GET', { host, authorization: 'Bearer the-token-0123456789' })), undefined);
    assert.equal(access.check(request('GET', { host, cookie: `a=b; ${TOKEN_COOKIE}=the-token-0123456789` })), undefined);
    assert.equal(access.check(request('GET', { host, cookie: `${TOKEN_COOKIE}=nope` }))?.status, 401);
  });

  test('actions need the CSRF header and, when sent, a same-host Origin', () => {
    const access = new HttpAccess('127.0.0.1', undefined);
    const host = '127.0.0.1:9464';
    assert.equal(access.check(request('POST', { host }))?.status, 403);
    assert.equal(access.check(request('POST', { host, [CSRF_HEADER]: 'guess' }))?.status, 403);
    assert.equal(access.check(request('POST', { host, [CSRF_HEADER]: access.csrfToken })), undefined);
    assert.equal(access.check(request('POST', { host, [CSRF_HEADER]: access.csrfToken, origin: 'http://127.0.0.1:9464' })), undefined);
    assert.equal(access.check(request('POST', { host, [CSRF_HEADER]: access.csrfToken, origin: 'http://evil.example' }))?.status, 403);
    assert.notEqual(new HttpAccess('127.0.0.1', undefined).csrfToken, access.csrfToken, 'a fresh value per process');
  });
});
