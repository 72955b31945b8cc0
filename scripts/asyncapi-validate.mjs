// Validates an AsyncAPI document with the AsyncAPI parser (the rules `asyncapi validate` runs):
//   node scripts/asyncapi-validate.mjs docs/asyncapi.json
// Exits 1 on any error-level diagnostic. The parser comes from npm: scripts/asyncapi-check.sh
// installs it.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: asyncapi-validate.mjs FILE');
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const levels = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  console.log(`${levels[d.severity] ?? d.severity}: ${d.code}: ${d.message} at /${(d.path ?? []).join('/')}`);
}
const errors = diagnostics.filter((d) => d.severity === 0);
if (!document || errors.length > 0) {
  console.error(`${file}: ${errors.length} error(s)`);
  process.exit(1);
}
const channels = document.channels().length;
const messages = document.allMessages().length;
const operations = document.operations().length;
console.log(`${file}: valid AsyncAPI ${document.version()}: ${channels} channels, ${messages} messages, ${operations} operations`);
