import { tiersWorkers } from './tiers-workers.js';
const rows = await tiersWorkers({ subscribers: 10000, rates: [50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000], workers: [2], stepMs: 3000, primaryMessages: 5000 }, console.error);
for (const r of rows) console.log(JSON.stringify(r));
process.exit(0);
