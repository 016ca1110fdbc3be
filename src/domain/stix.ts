import { createHash } from 'node:crypto';
import type { IocType, StoredIoc } from './ioc.js';

/**
 * The namespace of Stowage's indicator ids (a fixed random UUID): indicator--<uuid v5 of
 * `type:value` in it>, so the same IOC gets the same id in every export.
 */
export const STOWAGE_STIX_NAMESPACE = 'f4d1c0a8-3b5e-4f27-9c1d-6a2b7e9d0c51';

/** The object path of a pattern per IOC type (STIX 2.1 patterning, §9). */
export const STIX_OBJECT_PATHS: Record<IocType, string> = {
  ipv4: 'ipv4-addr:value',
  ipv6: 'ipv6-addr:value',
  domain: 'domain-name:value',
  url: 'url:value',
  email: 'email-addr:value',
  md5: 'file:hashes.MD5',
  // Hash names with a hyphen are quoted path components.
  sha1: "file:hashes.'SHA-1'",
  sha256: "file:hashes.'SHA-256'",
};

/** A STIX 2.1 string literal: in single quotes, `\` and `'` escaped with a backslash. */
export function stixString(value: string): string {
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

/** The STIX 2.1 pattern matching one IOC: `[ipv4-addr:value = '1.2.3.4']`. */
export function stixPattern(type: IocType, value: string): string {
  return `[${STIX_OBJECT_PATHS[type]} = ${stixString(value)}]`;
}

/** A UUID version 5 (RFC 9562: SHA-1 of the namespace's bytes and the name). */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new TypeError(`not a UUID: ${namespace}`);
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A STIX 2.1 Indicator SDO as Stowage exports one IOC. */
export interface StixIndicator {
  type: 'indicator';
  spec_version: '2.1';
  id: string;
  created: string;
  modified: string;
  name: string;
  indicator_types: string[];
  pattern: string;
  pattern_type: 'stix';
  valid_from: string;
  confidence: number;
  labels?: string[];
  x_stowage_sources: string[];
}

/**
 * One IOC as a STIX 2.1 indicator: id deterministic per (type, value); created and
 * valid_from its first_seen, modified its last_seen (a later sighting is a new version);
 * confidence 0–1 scaled to STIX's 0–100; labels its threat type and tags; the sources in
 * a custom property.
 */
export function stixIndicator(ioc: StoredIoc): StixIndicator {
  const labels = [...new Set([ioc.threat_type, ...ioc.tags])];
  return {
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${uuidV5(`${ioc.type}:${ioc.value}`, STOWAGE_STIX_NAMESPACE)}`,
    created: ioc.first_seen.toISOString(),
    modified: ioc.last_seen.toISOString(),
    name: `${ioc.type} ${ioc.value}`,
    indicator_types: [ioc.threat_type === 'unknown' ? 'unknown' : 'malicious-activity'],
    pattern: stixPattern(ioc.type, ioc.value),
    pattern_type: 'stix',
    valid_from: ioc.first_seen.toISOString(),
    confidence: Math.round(Math.min(1, Math.max(0, ioc.confidence)) * 100),
    ...(labels.length > 0 ? { labels } : {}),
    x_stowage_sources: ioc.sources,
  };
}
