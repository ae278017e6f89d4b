// The topology's locate settings: `regions` (each region's neighbours, nearest first, where its clients go when it
// has no healthy edge) and `locate.regionHeader` (the request header a CDN or GeoIP front sets to the client's region).

import { defaultLocateConfig, type LocateConfig } from './locate.js';
import { Checker, child, field, record, isRecord, text } from './topology-schema.js';

const headerName = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

export function checkLocate(c: Checker, root: Record<string, unknown>, edgeIds: readonly string[]): LocateConfig {
  return {
    neighbours: checkRegions(c, field(root, 'regions')),
    order: edgeIds,
    regionHeader: checkRegionHeader(c, field(root, 'locate')),
  };
}

function checkRegions(c: Checker, value: unknown): Record<string, readonly string[]> {
  // Built with fromEntries, so a region named "__proto__" is an own key and not the object's prototype.
  const neighbours: Array<[string, readonly string[]]> = [];
  if (value === undefined) return {};
  if (!isRecord(value))
    return c.fail('$.regions', 'an object of regions, each {neighbours: [regions, nearest first]}', value) ?? {};
  for (const [region, settings] of Object.entries(value)) {
    const path = child('$.regions', region);
    const entry = record(c, settings, path, ['neighbours'], 'a region object {neighbours}');
    if (entry === undefined) continue;
    const list = field(entry, 'neighbours');
    const listPath = child(path, 'neighbours');
    if (!Array.isArray(list)) {
      c.fail(listPath, 'an array of region names, nearest first', list);
      continue;
    }
    const names: string[] = [];
    list.forEach((name: unknown, index) => {
      if (typeof name !== 'string' || name.length === 0) c.fail(`${listPath}[${index}]`, 'a region name', name);
      else if (name === region || names.includes(name))
        c.fail(`${listPath}[${index}]`, 'a region other than this one, listed once', name);
      else names.push(name);
    });
    neighbours.push([region, names]);
  }
  return Object.fromEntries(neighbours);
}

function checkRegionHeader(c: Checker, value: unknown): string {
  if (value === undefined) return defaultLocateConfig.regionHeader;
  const locate = record(c, value, '$.locate', ['regionHeader'], 'a locate object {regionHeader}');
  if (locate === undefined || field(locate, 'regionHeader') === undefined) return defaultLocateConfig.regionHeader;
  // Node gives request headers in lower case.
  return (
    text(c, locate, '$.locate', 'regionHeader', 'an HTTP header name (letters, digits, "-")', (s) =>
      headerName.test(s.toLowerCase()),
    )?.toLowerCase() ?? defaultLocateConfig.regionHeader
  );
}
