#!/usr/bin/env node
// The `relaymesh` command. It runs the TypeScript sources through tsx, so `npx relaymesh` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
