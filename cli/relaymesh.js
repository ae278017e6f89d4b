#!/usr/bin/env node
// The `relaymesh` command in development: it runs the TypeScript sources through tsx, without a build (the installed
// command is dist/cli/main.js).
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
