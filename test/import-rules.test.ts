// Checks the layout rules of DESIGN.md by reading every import (static, re-export, dynamic) and every `process.exit`.

import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const folders = ['edge', 'core', 'hub', 'shared', 'client', 'cli'] as const;

/** Shared files that are safe in browsers, the only ones the client may import. */
const clientSharedFiles = new Set([
  'shared/protocol.js',
  'shared/errors.js',
  'shared/topics.js',
  'shared/backoff.js',
  'shared/server-op-parser.js',
]);
const sharedPackages = new Set(['msgpackr', 'lru-cache', 'jose']);
const builtins = new Set(builtinModules.filter((name) => !name.startsWith('_')));

interface ImportUse {
  specifier: string;
  line: number;
}

/** Every module specifier the file names: `import … from`, `export … from`, `import '…'`, `import('…')`, `require('…')`. */
function importsOf(text: string): ImportUse[] {
  const lineOf = (pos: number): number => text.slice(0, pos).split('\n').length;
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((ref) => ({ specifier: ref.fileName, line: lineOf(ref.pos) }));
}

/** Lines that reference `process.exit` in code (comments and strings do not count). */
function processExitLines(file: string, text: string): number[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isPropertyAccessExpression(node) &&
      node.name.text === 'exit' &&
      /^(globalThis\.)?process$/.test(node.expression.getText(source))
    ) {
      lines.push(source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1);
    }
    if (
      ts.isElementAccessExpression(node) &&
      ts.isStringLiteral(node.argumentExpression) &&
      node.argumentExpression.text === 'exit' &&
      /^(globalThis\.)?process$/.test(node.expression.getText(source))
    ) {
      lines.push(source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtins.has(packageOf(specifier));
}

/** Why this import breaks the layout rules, or undefined when it is allowed. `file` is relative to the root, with `/`. */
function importProblem(file: string, specifier: string): string | undefined {
  const folder = file.split('/')[0]!;
  const relativeImport = specifier.startsWith('.') || specifier.startsWith('/');
  const target = relativeImport ? posix.normalize(posix.join(posix.dirname(file), specifier)) : undefined;
  const targetFolder = target?.split('/')[0];
  if (target !== undefined && (target.startsWith('..') || specifier.startsWith('/')))
    return 'reaches outside the project';

  switch (folder) {
    case 'edge':
    case 'core': {
      const other = folder === 'edge' ? 'core' : 'edge';
      if (targetFolder === other) return `${folder}/ must not import from ${other}/ (share code through shared/)`;
      if (target !== undefined && targetFolder !== folder && targetFolder !== 'shared')
        return `${folder}/ may import only from ${folder}/ and shared/`;
      return undefined;
    }
    case 'hub':
      // A hub is both: an edge toward its core, a core toward the edges behind it.
      if (target !== undefined && !['hub', 'edge', 'core', 'shared'].includes(targetFolder!))
        return 'hub/ may import only from hub/, edge/, core/ and shared/';
      return undefined;
    case 'shared':
      if (target !== undefined)
        return targetFolder === 'shared' ? undefined : 'shared/ may import only other shared/ files';
      if (specifier.startsWith('node:')) return undefined;
      if (isNodeBuiltin(specifier)) return 'node built-ins are imported with the `node:` prefix';
      if (sharedPackages.has(packageOf(specifier))) return undefined;
      return 'shared/ may import only node built-ins, msgpackr, lru-cache and jose';
    case 'client':
      if (target !== undefined) {
        if (targetFolder === 'client') return undefined;
        if (targetFolder === 'shared')
          return clientSharedFiles.has(target)
            ? undefined
            : `client/ may import from shared/ only ${[...clientSharedFiles].join(', ')}`;
        return 'client/ may import only from client/ and the browser-safe shared/ files';
      }
      if (isNodeBuiltin(specifier) && file !== 'client/node.ts')
        return 'node built-ins are allowed in client/node.ts only (the rest runs in browsers)';
      return undefined;
    default:
      return undefined; // cli/ may import everything
  }
}

/** Every rule broken by one file, as `file:line …` lines. */
function problemsOfFile(file: string, text: string): string[] {
  const problems: string[] = [];
  for (const { specifier, line } of importsOf(text)) {
    const problem = importProblem(file, specifier);
    if (problem) problems.push(`${file}:${line} imports '${specifier}': ${problem}`);
  }
  if (!file.startsWith('cli/')) {
    for (const line of processExitLines(file, text))
      problems.push(`${file}:${line} uses process.exit: only cli/ may exit the process`);
  }
  return problems;
}

function listTypeScript(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch {
      continue; // removed while we looked (others are editing)
    }
    if (stats.isDirectory()) files.push(...listTypeScript(path));
    else if (/\.(c|m)?ts$/.test(entry)) files.push(path);
  }
  return files;
}

function projectFiles(): Array<{ file: string; text: string }> {
  const found: Array<{ file: string; text: string }> = [];
  for (const folder of folders) {
    for (const path of listTypeScript(join(root, folder))) {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue;
      }
      found.push({ file: relative(root, path).split(sep).join('/'), text });
    }
  }
  return found;
}

// ── The rules, applied to the project ────────────────────────────────────────

test('the project follows the layout rules of DESIGN.md', (t) => {
  const files = projectFiles();
  for (const folder of ['edge', 'core', 'shared']) {
    t.true(
      files.some(({ file }) => file.startsWith(`${folder}/`)),
      `no .ts files found under ${folder}/`,
    );
  }
  const problems = files.flatMap(({ file, text }) => problemsOfFile(file, text));
  t.deepEqual(problems, [], `layout rules broken:\n${problems.join('\n')}`);
  t.log(`checked ${files.length} files`);
});

// ── The checker itself: it must catch each kind of break ─────────────────────

test('the checker finds every kind of import', (t) => {
  const text = [
    "import type { A } from './a.js';",
    'import {',
    '  b,',
    "} from '../shared/b.js';",
    "export * from './c.js';",
    'export { d } from "./d.js";',
    "import './e.js';",
    "async function f() { return import('./f.js'); }",
    "// import g from './commented.js';",
    'const h = "import h from \'./in-a-string.js\'";',
  ].join('\n');
  t.deepEqual(importsOf(text), [
    { specifier: './a.js', line: 1 },
    { specifier: '../shared/b.js', line: 4 },
    { specifier: './c.js', line: 5 },
    { specifier: './d.js', line: 6 },
    { specifier: './e.js', line: 7 },
    { specifier: './f.js', line: 8 },
  ]);
});

test('the checker reports broken rules with file, line and import', (t) => {
  const broken: Array<[string, string, RegExp]> = [
    [
      'edge/session.ts',
      "import { Router } from '../core/router.js';",
      /^edge\/session\.ts:1 imports '\.\.\/core\/router\.js': edge\/ must not import from core\//,
    ],
    ['edge/deep/x.ts', "export { y } from '../../core/y.js';", /edge\/deep\/x\.ts:1 imports '\.\.\/\.\.\/core\/y\.js'/],
    [
      'core/x.ts',
      "\n\nconst m = await import('../edge/uplink.js');",
      /^core\/x\.ts:3 imports '\.\.\/edge\/uplink\.js': core\/ must not import from edge\//,
    ],
    [
      'core/x.ts',
      "import { MeshClient } from '../client/mesh-client.js';",
      /core\/ may import only from core\/ and shared\//,
    ],
    [
      'shared/x.ts',
      "import WebSocket from 'ws';",
      /shared\/ may import only node built-ins, msgpackr, lru-cache and jose/,
    ],
    ['shared/x.ts', "import { pino } from 'pino';", /shared\/ may import only/],
    ['shared/x.ts', "import { readFile } from 'fs/promises';", /`node:` prefix/],
    [
      'shared/x.ts',
      "import { startCore } from '../core/start-core.js';",
      /shared\/ may import only other shared\/ files/,
    ],
    [
      'client/mesh-client.ts',
      "import { packValue } from '../shared/codec.js';",
      /client\/ may import from shared\/ only/,
    ],
    [
      'client/mesh-client.ts',
      "import type { Topology } from '../shared/topology.js';",
      /client\/ may import from shared\/ only/,
    ],
    ['client/mesh-client.ts', "import { EventEmitter } from 'node:events';", /client\/node\.ts only/],
    ['client/transport.ts', "import { EventEmitter } from 'events';", /client\/node\.ts only/],
    ['client/x.ts', "import { startEdge } from '../edge/start-edge.js';", /client\/ may import only from client\//],
    ['edge/x.ts', 'function stop() { process.exit(1); }', /^edge\/x\.ts:1 uses process\.exit/],
    ['shared/x.ts', '\nglobalThis.process.exit(0);', /^shared\/x\.ts:2 uses process\.exit/],
    ['client/node.ts', "const exit = process['exit'];", /uses process\.exit/],
    ['shared/x.ts', "import x from '../../outside.js';", /reaches outside the project/],
  ];
  for (const [file, text, expected] of broken) {
    const problems = problemsOfFile(file, text);
    t.is(problems.length, 1, `${file}: ${text} → ${problems.join('; ')}`);
    t.regex(problems[0] ?? '', expected);
  }
});

test('the checker allows what the rules allow', (t) => {
  const allowed: Array<[string, string]> = [
    [
      'edge/x.ts',
      "import { a } from './a.js'; import { b } from '../shared/b.js'; import { WebSocketServer } from 'ws'; import { pino } from 'pino';",
    ],
    [
      'core/x.ts',
      "import { createServer } from 'node:http'; import type { Engine } from './engine.js'; import { frameType } from '../shared/protocol.js';",
    ],
    [
      'shared/x.ts',
      "import { readFile } from 'node:fs/promises'; import { Packr } from 'msgpackr'; import { LRUCache } from 'lru-cache'; import { jwtVerify } from 'jose'; import { a } from './a.js';",
    ],
    ['shared/deep/x.ts', "import { a } from '../a.js';"],
    [
      'client/mesh-client.ts',
      "import { frameType } from '../shared/protocol.js'; import { RelayError } from '../shared/errors.js'; import { matches } from '../shared/topics.js'; import { backoffDelay } from '../shared/backoff.js'; import { S } from './subscription.js';",
    ],
    [
      'client/node.ts',
      "import WebSocket from 'ws'; import { EventEmitter } from 'node:events'; import { MeshClient } from './mesh-client.js';",
    ],
    [
      'cli/main.ts',
      "import { startCore } from '../core/start-core.js'; import { startEdge } from '../edge/start-edge.js'; import yargs from 'yargs'; process.exit(0);",
    ],
    ['edge/x.ts', "// process.exit(1) would be wrong here\nconst note = 'process.exit(1)'; process.exitCode = 1;"],
  ];
  for (const [file, text] of allowed) t.deepEqual(problemsOfFile(file, text), [], file);
});
