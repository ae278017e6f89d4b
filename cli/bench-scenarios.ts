// The benchmark scenarios by name: the command line lists them without loading the suite (nor its dev dependencies).

export type ScenarioName = 'idle' | 'fanout' | 'latency' | 'wan' | 'churn' | 'engine' | 'tunnel' | 'presence' | 'tiers';
export const scenarioNames: readonly ScenarioName[] = [
  'idle',
  'fanout',
  'latency',
  'wan',
  'churn',
  'engine',
  'tunnel',
  'presence',
  'tiers',
];
