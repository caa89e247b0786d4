import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redaction } from '../../src/console/redaction.ts';

describe('Redaction', () => {
  const config = {
    pipelines: [{
      source: { url: 'postgresql://app:s3cr%40t@db.internal:5432/shop' },
      sink: { type: 'kafka', brokers: ['k:9092'], sasl: { mechanism: 'plain', username: 'svc', password: 'kafka-pass' } },
    }, {
      source: { url: 'host=db user=app password=kw-secret dbname=shop' },
      sink: { type: 'http', url: 'https://hooks.example/in', headers: { Authorization: 'Bearer hook-token-123' } },
    }],
    metrics: { port: 9464, token: 'console-token-abcdef' },
  };
  const redaction = new Redaction(config);

  test('every secret value of the config is replaced wherever it appears', () => {
    for (const secret of ['kafka-pass', 'kw-secret', 'Bearer hook-token-123', 'console-token-abcdef', 's3cr%40t', 's3cr@t']) {
      assert.ok(!redaction.text(`an error saying ${secret} in the middle`).includes(secret), secret);
    }
  });

  test('passwords in URLs and keyword strings are masked even when the config does not hold them', () => {
    assert.equal(redaction.text('cannot connect to postgresql://u:other-pw@h/db: refused'), 'cannot connect to postgresql://u:***@h/db: refused');
    assert.equal(redaction.text('amqp://guest:guest@rabbit:5672 closed'), 'amqp://guest:***@rabbit:5672 closed');
    assert.equal(redaction.text("host=h password='it''s' dbname=d"), 'host=h password=*** dbname=d');
  });

  test('text without secrets is unchanged; names and hosts stay readable', () => {
    const line = 'kafka k:9092: broker not available; retry 3 in 800 ms';
    assert.equal(redaction.text(line), line);
    assert.equal(redaction.text('svc'), 'svc', 'a user name is not a secret');
  });
});
