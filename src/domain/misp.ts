import type { IocType, StoredIoc } from './ioc.js';
import { uuidV5 } from './stix.js';

/**
 * The namespace of Stowage's MISP attribute uuids (a fixed random UUID): the uuid v5 of
 * `type:value` in it, so the same IOC is the same attribute in every export and a MISP
 * instance importing two exports updates it instead of adding a copy.
 */
export const STOWAGE_MISP_NAMESPACE = '7c9e4f1a-2b8d-4e63-a5f0-91d3c6b2e847';

/** The MISP attribute type and category of each IOC type (MISP's default type/category table). */
export const MISP_ATTRIBUTE_TYPES: Record<IocType, { type: string; category: string }> = {
  ipv4: { type: 'ip-dst', category: 'Network activity' },
  ipv6: { type: 'ip-dst', category: 'Network activity' },
  domain: { type: 'domain', category: 'Network activity' },
  url: { type: 'url', category: 'Network activity' },
  email: { type: 'email-src', category: 'Payload delivery' },
  md5: { type: 'md5', category: 'Payload delivery' },
  sha1: { type: 'sha1', category: 'Payload delivery' },
  sha256: { type: 'sha256', category: 'Payload delivery' },
};

/** A MISP attribute as Stowage exports one IOC. */
export interface MispAttribute {
  uuid: string;
  type: string;
  category: string;
  value: string;
  to_ids: boolean;
  comment: string;
  timestamp: string;
  first_seen: string;
  last_seen: string;
  Tag: { name: string }[];
}

/**
 * One IOC as a MISP attribute: uuid deterministic per (type, value); to_ids unless its threat
 * type is unknown (an IDS should not alert on what nobody classified); first and last seen as
 * stored, timestamp (epoch seconds, as MISP writes it) the last sighting; tags its threat
 * type, its tags and a `stowage:source` machine tag per source; confidence in the comment.
 */
export function mispAttribute(ioc: StoredIoc): MispAttribute {
  const { type, category } = MISP_ATTRIBUTE_TYPES[ioc.type];
  const tags = [
    ...new Set([ioc.threat_type, ...ioc.tags]),
    ...ioc.sources.map((s) => `stowage:source="${s.replace(/"/g, '')}"`),
  ];
  return {
    uuid: uuidV5(`${ioc.type}:${ioc.value}`, STOWAGE_MISP_NAMESPACE),
    type,
    category,
    value: ioc.value,
    to_ids: ioc.threat_type !== 'unknown',
    comment: `confidence ${ioc.confidence}`,
    timestamp: String(Math.floor(ioc.last_seen.getTime() / 1000)),
    first_seen: ioc.first_seen.toISOString(),
    last_seen: ioc.last_seen.toISOString(),
    Tag: tags.map((name) => ({ name })),
  };
}
