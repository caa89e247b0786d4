/** pgcdc's version (Debezium's `source.version`). Kept in step with package.json by test/unit/version.test.ts. */
export const PGCDC_VERSION = '0.1.0';
