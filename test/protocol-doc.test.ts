// docs/protocol.md is the public contract: every client op, server op, error code and close code the code knows is
// in it, so a new one cannot ship undocumented; and code cites it, not a file outside the repository.

import { readFile } from 'node:fs/promises';
import test from 'ava';
import { closeCodes, errorCodes } from '../shared/errors.js';
import { clientOpNames, serverOpNames } from '../shared/protocol.js';

const doc = await readFile(new URL('../docs/protocol.md', import.meta.url), 'utf8');

test('every op, error code and close code appears in docs/protocol.md', (t) => {
  for (const name of [...clientOpNames, ...serverOpNames, ...errorCodes]) t.true(doc.includes(`\`${name}\``), name);
  for (const [name, code] of Object.entries(closeCodes))
    t.regex(doc, new RegExp(`^\\| ${code} \\|`, 'm'), `close code ${name} (${code}) in the table of §2`);
});
