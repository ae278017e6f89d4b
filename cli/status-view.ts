// Renders `relaymesh status`: the mesh as one node sees it (GET /v1/mesh), with rates from the previous sample.

import { amplification, type EdgeStatus, type MeshSnapshot } from '../shared/mesh-status.js';

export interface Rates {
  /** Messages sequenced per second, by core id. */
  published: Map<string, number>;
  /** Messages received from the core, and deliveries to clients, per second, by edge id. */
  messagesIn: Map<string, number>;
  deliveries: Map<string, number>;
}

/** Per-second rates between two snapshots (empty when there is no earlier one or no time passed). */
export function ratesBetween(previous: MeshSnapshot | undefined, current: MeshSnapshot): Rates {
  const rates: Rates = { published: new Map(), messagesIn: new Map(), deliveries: new Map() };
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  if (!previous || seconds <= 0) return rates;
  const per = (now: number, before: number | undefined): number =>
    before === undefined || now < before ? 0 : (now - before) / seconds;
  for (const core of current.cores)
    rates.published.set(core.id, per(core.published, previous.cores.find((c) => c.id === core.id)?.published));
  for (const edge of current.edges) {
    const before = previous.edges.find((e) => e.id === edge.id);
    rates.messagesIn.set(edge.id, per(edge.messagesIn, before?.messagesIn));
    rates.deliveries.set(edge.id, per(edge.deliveries, before?.deliveries));
  }
  return rates;
}

export function edgeState(edge: EdgeStatus): string {
  if (edge.healthy) return 'ready';
  if (edge.draining) return 'draining';
  if (!edge.core) return 'no uplink';
  return 'full';
}

export function renderStatus(snapshot: MeshSnapshot, rates: Rates): string {
  const rate = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(1));
  const lines = [`relaymesh status — as ${snapshot.via} sees it at ${new Date(snapshot.at).toLocaleTimeString()}`, ''];
  lines.push(
    ...table(
      ['CORE', 'REGION', 'EDGES', 'PUBLISHED', 'MSGS/S'],
      snapshot.cores.map((core) => [
        core.id,
        core.region,
        String(core.uplinks),
        String(core.published),
        rate(rates.published.get(core.id)),
      ]),
    ),
  );
  if (snapshot.cores.length === 0) lines.push('(no core known yet: this edge has no uplink)');
  lines.push('');
  const edges = [...snapshot.edges].sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
  lines.push(
    ...table(
      ['REGION', 'EDGE', 'STATE', 'CORE', 'CLIENTS', 'TOPICS', 'IN/S', 'OUT/S', 'AMPLIFICATION'],
      edges.map((edge) => [
        edge.region,
        edge.id,
        edgeState(edge),
        edge.core || '-',
        `${edge.sessions}/${edge.capacity}`,
        String(edge.topics),
        rate(rates.messagesIn.get(edge.id)),
        rate(rates.deliveries.get(edge.id)),
        `${amplification(edge).toFixed(1)}×`,
      ]),
    ),
  );
  const clients = edges.reduce((sum, edge) => sum + edge.sessions, 0);
  const deliveries = edges.reduce((sum, edge) => sum + edge.deliveries, 0);
  const messagesIn = edges.reduce((sum, edge) => sum + edge.messagesIn, 0);
  lines.push(
    '',
    `${edges.length} edges (${edges.filter((edge) => edge.healthy).length} ready), ${clients} clients, ` +
      `amplification ${amplification({ deliveries, messagesIn }).toFixed(1)}× (client deliveries per uplink message)`,
  );
  // A node from before tunnels has no `tunnels` (cores are upgraded first, but status may ask any node).
  const tunnels = snapshot.tunnels ?? [];
  if (tunnels.length > 0) {
    lines.push(
      '',
      ...table(
        ['TUNNEL', 'DIALLED BY', 'STREAMS', 'TO SERVICE', 'FROM SERVICE'],
        tunnels.map((tunnel) => [
          tunnel.name,
          tunnel.at || 'core',
          String(tunnel.streams),
          bytes(tunnel.toService),
          bytes(tunnel.fromService),
        ]),
      ),
      `(streams and bytes as ${snapshot.via} carries them)`,
    );
  }
  return lines.join('\n');
}

function bytes(count: number): string {
  if (count < 1000) return `${count} B`;
  if (count < 1_000_000) return `${(count / 1000).toFixed(1)} kB`;
  if (count < 1_000_000_000) return `${(count / 1_000_000).toFixed(1)} MB`;
  return `${(count / 1_000_000_000).toFixed(1)} GB`;
}

/** Columns padded to their widest cell; columns of figures aligned right. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const numeric = header.map((_, column) => rows.length > 0 && rows.every((row) => /^[\d./×-]+$/.test(row[column]!)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
