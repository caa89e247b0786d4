import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RelationCache } from '../../src/assemble/relation-cache.ts';
import { TransactionAssembler, type AssemblerOutput } from '../../src/assemble/transaction-assembler.ts';
import type { PendingItem } from '../../src/assemble/pending-item.ts';
import { materialize } from '../../src/assemble/row-change.ts';
import { isRawJson } from '../../src/core/json.ts';
import { PgOutputDecoder } from '../../src/decode/pgoutput/decode.ts';
import { ValueConverter } from '../../src/decode/values/convert.ts';
import { TypeRegistry } from '../../src/decode/values/type-registry.ts';
import { PgOutputStreamDecoder } from '../../src/engine/stream-decoders.ts';
import { pgoutput } from '../support/pgoutput-builder.ts';
import { lsn } from '../../src/core/lsn.ts';

function setup(budget = 1 << 30, spillDir?: string) {
  const registry = new TypeRegistry();
  const relations = new RelationCache(new ValueConverter(registry), () => registry.version);
  const assembler = new TransactionAssembler({ relations, toastPlaceholder: '__toast__', memoryBudgetBytes: budget, ...(spillDir ? { spillDir } : {}) });
  const decoder = new PgOutputDecoder();
  const outputs: AssemblerOutput[] = [];
  let position = 1000n;
  const feed = (...messages: Buffer[]) => {
    for (const m of messages) {
      const out = assembler.push(decoder.decode(m), lsn(position++), m.length);
      if (out) outputs.push(out);
    }
  };
  return { assembler, outputs, feed };
}

async function items(output: AssemblerOutput | undefined): Promise<PendingItem[]> {
  assert.ok(output && output.kind === 'transaction');
  const all: PendingItem[] = [];
  for await (const chunk of output.transaction.buffer.chunks(2)) all.push(...chunk.items.map(materialize));
  output.transaction.buffer.dispose();
  return all;
}

const users = pgoutput.relation(16384, 'public', 'users', [{ name: 'id', type: 20, key: true }, { name: 'name', type: 25 }, { name: 'bio', type: 25 }]);

describe('transaction assembler', () => {
  test('hands a transaction on only at its Commit, with rows converted and keys extracted', async () => {
    const { outputs, feed } = setup();
    feed(users, pgoutput.begin(5000n, 1n, 700), pgoutput.insert(16384, ['1', 'alice', null]));
    assert.equal(outputs.length, 0, 'nothing before the commit');
    feed(pgoutput.update(16384, ['1', 'alicia', 'toast'], { kind: 'K', columns: ['1', null, null] }), pgoutput.delete(16384, 'K', ['1', null, null]), pgoutput.commit(5000n, 5100n, 1n));
    const tx = outputs[0];
    assert.ok(tx?.kind === 'transaction');
    assert.equal(tx.transaction.endLsn, 5100n);
    const all = await items(tx);
    assert.deepEqual(all.map((i) => i.op), ['c', 'u', 'd']);
    assert.deepEqual(all[0]!.after, { id: 1, name: 'alice', bio: null });
    assert.deepEqual(all[1]!.after, { id: 1, name: 'alicia', bio: '__toast__' }, 'unchanged TOAST is the placeholder, never null');
    assert.deepEqual(all[1]!.before, { id: 1 }, 'a key-only old tuple keeps just the key');
    assert.deepEqual(all[2]!.key, { id: 1 });
  });
  test('non-transactional messages are handed on at once, even inside a transaction', () => {
    const { outputs, feed } = setup();
    feed(pgoutput.message(false, 42n, 'log', 'OK'));
    assert.equal(outputs.length, 1);
    const out = outputs[0]!;
    assert.ok(out.kind === 'message');
    assert.deepEqual(out.item.message, { prefix: 'log', content: 'OK', encoding: 'utf8', transactional: false });
    assert.equal(out.lsn, 42n);
  });
  test('message content that is not UTF-8 is base64 and says so', async () => {
    const { outputs, feed } = setup();
    feed(pgoutput.begin(1n, 1n, 1), pgoutput.message(true, 2n, 'bin', Buffer.from([0xc3, 0x28, 0x00])), pgoutput.commit(1n, 3n, 1n));
    const [item] = await items(outputs[0]);
    assert.deepEqual(item!.message, { prefix: 'bin', content: Buffer.from([0xc3, 0x28, 0]).toString('base64'), encoding: 'base64', transactional: true });
  });
  test('streamed transactions: chunks from several stream blocks, interleaved with others, delivered at Stream Commit', async () => {
    const { outputs, feed } = setup();
    feed(
      pgoutput.streamStart(900, true), pgoutput.relation(16384, 'public', 'users', [{ name: 'id', type: 20, key: true }, { name: 'name', type: 25 }, { name: 'bio', type: 25 }], { xid: 900 }),
      pgoutput.insert(16384, ['1', 'a', null], 900), pgoutput.streamStop(),
      pgoutput.begin(70n, 1n, 901), pgoutput.insert(16384, ['9', 'other', null]), pgoutput.commit(70n, 80n, 1n),
      pgoutput.streamStart(900, false), pgoutput.insert(16384, ['2', 'b', null], 900), pgoutput.streamStop(),
    );
    assert.equal(outputs.length, 1, 'only the small transaction so far');
    feed(pgoutput.streamCommit(900, 100n, 110n, 1n));
    const all = await items(outputs[1]);
    assert.deepEqual(all.map((i) => i.after?.id), [1, 2]);
  });
  test('Stream Abort drops the whole transaction, or only the aborted subtransaction', async () => {
    const { outputs, feed } = setup();
    feed(users, pgoutput.streamStart(900, true), pgoutput.insert(16384, ['1', 'a', null], 900), pgoutput.insert(16384, ['2', 'sub', null], 901),
      pgoutput.insert(16384, ['3', 'c', null], 900), pgoutput.streamStop(), pgoutput.streamAbort(900, 901), pgoutput.streamCommit(900, 100n, 110n, 1n));
    assert.deepEqual((await items(outputs[0])).map((i) => i.after?.id), [1, 3]);
    feed(pgoutput.streamStart(950, true), pgoutput.insert(16384, ['5', 'x', null], 950), pgoutput.streamStop(), pgoutput.message(false, 7n, 'log', 'kept'), pgoutput.streamAbort(950, 950));
    assert.equal(outputs.length, 2, 'aborted: nothing but the non-transactional message');
    assert.equal(outputs[1]!.kind, 'message');
  });
  test('past the memory budget a transaction spills to disk and reads back in order with exact numbers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgcdc-spill-test-'));
    const { outputs, feed, assembler } = setup(4096, dir);
    feed(users, pgoutput.begin(1n, 1n, 1));
    for (let i = 1; i <= 500; i++) feed(pgoutput.insert(16384, [String(i === 500 ? '9007199254740993' : i), `name ${i}`, 'x'.repeat(50)]));
    assert.equal(readdirSync(dir).length, 1, 'a spill directory exists while the transaction is open');
    assert.ok(assembler.memoryUsed <= 4096, `memory ${assembler.memoryUsed} stays within the budget`);
    feed(pgoutput.commit(1n, 2n, 1n));
    const all = await items(outputs[0]);
    assert.equal(all.length, 500);
    assert.deepEqual(all.slice(0, 3).map((i) => i.after?.id), [1, 2, 3]);
    const big = all[499]!.after!.id;
    assert.ok(isRawJson(big), 'int8 beyond 2^53 survives the spill exactly');
    assert.equal(JSON.stringify(big), '9007199254740993');
    assert.equal(all[499]!.lsn! > all[0]!.lsn!, true);
    assert.equal(readdirSync(dir).length, 0, 'the spill file is removed after delivery');
    assert.equal(assembler.memoryUsed, 0);
  });
  test('a spilled transaction reads back exactly as the same transaction held in memory: every kind of item, rows larger than the write and read buffers, a mid-transaction ALTER, an aborted subtransaction', async () => {
    const users2 = pgoutput.relation(16384, 'public', 'users', [{ name: 'id', type: 20, key: true }, { name: 'name', type: 25 }, { name: 'score', type: 701 }]);
    const orders = pgoutput.relation(16390, 'shop', 'orders', [{ name: 'id', type: 23, key: true }, { name: 'doc', type: 3802 }], { identity: 'f' });
    const big = (n: number) => 'é'.repeat(n / 2);
    const plain: Buffer[] = [users, orders, pgoutput.begin(9000n, 1n, 800)];
    for (let i = 1; i <= 3000; i++) plain.push(pgoutput.insert(16384, [String(i), `name ${i}`, i % 7 === 0 ? null : 'x'.repeat(i % 90)]));
    plain.push(
      pgoutput.insert(16384, ['9007199254740993', big(300 * 1024), 'bio']), // larger than the write buffer
      pgoutput.message(true, 9001n, 'audit', Buffer.from([0xff, 0xfe, 0x00])), // not UTF-8: base64
      pgoutput.insert(16390, ['1', '{"n": 12345678901234567890, "s": "ä"}']),
      pgoutput.update(16390, ['1', 'toast'], { kind: 'O', columns: ['1', '{"a": 1}'] }),
      users2, // ALTER TABLE inside the transaction: later rows read with the new columns
      pgoutput.insert(16384, ['3001', big(1536 * 1024), 'NaN']), // larger than a read
      pgoutput.update(16384, ['3001', 'toast', '-Infinity'], { kind: 'K', columns: ['3001', null, null] }),
      pgoutput.delete(16384, 'K', ['2', null, null]),
      pgoutput.truncate([16384, 16390], 1),
      pgoutput.commit(9000n, 9100n, 1n),
      pgoutput.streamStart(900, true), pgoutput.insert(16384, ['5001', 'kept', '1.5'], 900), pgoutput.insert(16384, ['5002', 'aborted', '2'], 901),
      pgoutput.message(true, 9200n, 'outbox', '{"id":"m1"}', 901), pgoutput.streamStop(),
      pgoutput.streamStart(900, false), pgoutput.insert(16384, ['5003', big(400 * 1024), '3'], 900), pgoutput.streamStop(),
      pgoutput.streamAbort(900, 901), pgoutput.streamCommit(900, 9300n, 9400n, 2n),
    );
    const run = async (budget: number) => {
      const spillDir = mkdtempSync(join(tmpdir(), 'pgcdc-spill-diff-'));
      const registry = new TypeRegistry();
      const relations = new RelationCache(new ValueConverter(registry), () => registry.version);
      const stream = new PgOutputStreamDecoder(new TransactionAssembler({ relations, toastPlaceholder: '__toast__', memoryBudgetBytes: budget, spillDir }));
      const outputs: AssemblerOutput[] = [];
      let spilled = false;
      plain.forEach((m, i) => {
        const out = stream.push(m, 0, m.length, lsn(10_000n + BigInt(i)));
        if (out) outputs.push(out);
        spilled ||= readdirSync(spillDir).length > 0;
      });
      const all: string[] = [];
      for (const output of outputs) for (const item of await items(output)) all.push(JSON.stringify({ ...item, lsn: String(item.lsn), columns: item.columns?.map((c) => c.name) }));
      assert.equal(readdirSync(spillDir).length, 0, 'spill files are removed after delivery');
      return { all, spilled };
    };
    const inMemory = await run(1 << 30);
    assert.equal(inMemory.spilled, false);
    assert.equal(inMemory.all.length, 3000 + 9 + 2, 'every item of both transactions, the aborted subtransaction dropped');
    for (const budget of [1, 64 * 1024]) {
      const spilled = await run(budget);
      assert.equal(spilled.spilled, true, `budget ${budget} spills`);
      assert.equal(spilled.all.length, inMemory.all.length);
      for (let i = 0; i < inMemory.all.length; i++) assert.equal(spilled.all[i], inMemory.all[i], `item ${i}, budget ${budget}`);
    }
  });
  test('a change for an unknown relation is a protocol error', () => {
    const { feed } = setup();
    assert.throws(() => feed(pgoutput.begin(1n, 1n, 1), pgoutput.insert(999, ['1'])), /relation 999 arrived before its Relation message/);
  });
  test('row changes fed as bytes (the path the stream takes) convert when handed on, against the relation in force when they arrived', async () => {
    for (const budget of [1 << 30, 1]) {
      const spillDir = mkdtempSync(join(tmpdir(), 'pgcdc-deferred-'));
      const registry = new TypeRegistry();
      const relations = new RelationCache(new ValueConverter(registry), () => registry.version);
      const stream = new PgOutputStreamDecoder(new TransactionAssembler({ relations, toastPlaceholder: '__toast__', memoryBudgetBytes: budget, spillDir }));
      const outputs: AssemblerOutput[] = [];
      let position = 1000n;
      const feed = (...messages: Buffer[]) => {
        for (const m of messages) {
          const out = stream.push(m, 0, m.length, lsn(position++));
          if (out) outputs.push(out);
        }
      };
      // The table is altered (bio becomes an int column named age) after the rows
      // arrived but before they are handed on: they still read as the old columns.
      const altered = pgoutput.relation(16384, 'public', 'users', [{ name: 'id', type: 20, key: true }, { name: 'name', type: 25 }, { name: 'age', type: 23 }]);
      feed(users, pgoutput.begin(5000n, 1n, 700), pgoutput.insert(16384, ['1', 'alice', '42']), pgoutput.update(16384, ['1', 'alicia', 'toast'], { kind: 'K', columns: ['1', null, null] }),
        pgoutput.delete(16384, 'K', ['1', null, null]), pgoutput.commit(5000n, 5100n, 1n), altered,
        pgoutput.begin(6000n, 1n, 701), pgoutput.insert(16384, ['2', 'bob', '42']), pgoutput.commit(6000n, 6100n, 1n));
      const first = await items(outputs[0]);
      assert.deepEqual(first.map((i) => [i.op, i.after, i.before, i.key, i.deferred]), [
        ['c', { id: 1, name: 'alice', bio: '42' }, null, { id: 1 }, undefined],
        ['u', { id: 1, name: 'alicia', bio: '__toast__' }, { id: 1 }, { id: 1 }, undefined],
        ['d', null, { id: 1 }, { id: 1 }, undefined],
      ], `budget ${budget}`);
      assert.deepEqual((await items(outputs[1]))[0]!.after, { id: 2, name: 'bob', age: 42 });
    }
  });
  test('chunks end at the chunk size or at 256 KiB of rows, the last one marked, in memory and spilled alike', async () => {
    const cases = [
      { rows: 0, width: 10, chunks: [0] },
      { rows: 5, width: 10, chunks: [2, 2, 1] },
      { rows: 6, width: 10, chunks: [2, 2, 2] },
      // Rows of 200 KiB: a chunk ends after the row that takes it past 256 KiB, before the count does.
      { rows: 5, width: 200 * 1024, chunks: [2, 2, 1] },
      { rows: 3, width: 300 * 1024, chunks: [1, 1, 1] },
    ];
    for (const c of cases) {
      for (const budget of [1 << 30, 1]) {
        const registry = new TypeRegistry();
        const relations = new RelationCache(new ValueConverter(registry), () => registry.version);
        const stream = new PgOutputStreamDecoder(new TransactionAssembler({ relations, toastPlaceholder: '__toast__', memoryBudgetBytes: budget, spillDir: mkdtempSync(join(tmpdir(), 'pgcdc-chunks-')) }));
        const messages = [users, pgoutput.begin(5000n, 1n, 700)];
        for (let i = 0; i < c.rows; i++) messages.push(pgoutput.insert(16384, [String(i), 'x'.repeat(c.width), null]));
        messages.push(pgoutput.commit(5000n, 5100n, 1n));
        let output: AssemblerOutput | undefined;
        messages.forEach((m, i) => { output = stream.push(m, 0, m.length, lsn(1000n + BigInt(i))) ?? output; });
        assert.ok(output?.kind === 'transaction');
        const seen: Array<[number, boolean]> = [];
        const ids: unknown[] = [];
        for await (const chunk of output.transaction.buffer.chunks(c.width >= 200 * 1024 ? 10 : 2)) {
          seen.push([chunk.items.length, chunk.last]);
          for (const item of chunk.items) ids.push(materialize(item).after!.id);
        }
        output.transaction.buffer.dispose();
        const label = `${c.rows} rows of ${c.width} bytes, budget ${budget}`;
        assert.deepEqual(seen, c.chunks.map((n, i) => [n, i === c.chunks.length - 1]), label);
        assert.deepEqual(ids, Array.from({ length: c.rows }, (_, i) => i), label);
      }
    }
  });
});
