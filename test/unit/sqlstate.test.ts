import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRetriableSqlState, isStatementProblem } from '../../src/core/sqlstate.ts';

test('one SQLSTATE table: connection, rollback and operator classes pass; statement and privilege errors do not', () => {
  for (const code of [undefined, '', '08006', '08001', '40001', '40P01', '57P01', '57P03', '57014', '53300', '55006', '55P03']) {
    assert.equal(isRetriableSqlState(code), true, `${code} is retriable`);
  }
  for (const code of ['42P01', '42703', '42501', '23505', '22P02', '25006', '53100', '3D000', '28P01', 'PGCDC_SINK']) {
    assert.equal(isRetriableSqlState(code), false, `${code} is not retriable`);
  }
  assert.deepEqual(['42601', '22012', '25006', '08006', undefined].map(isStatementProblem), [true, true, true, false, false]);
});
