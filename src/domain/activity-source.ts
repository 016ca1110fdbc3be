import { z } from 'zod';

/**
 * Where an activity event was observed: seed 000's `ActivitySource` values, as its
 * `ladon_models` spells them (lower case). A detection names the source of the activity it
 * matched in.
 */
export const ACTIVITY_SOURCES = [
  'proxy',
  'dns',
  'sinkhole',
  'mde',
  'crowdstrike',
  'firewall',
  'vpn',
  'email_gateway',
  'web_gateway',
  'edr',
  'siem',
  'netflow',
  'pcap',
  'auth_logs',
  'cloud_trail',
  'azure_ad',
  'okta',
  'other',
] as const;

/** One of seed 000's activity sources. */
export type ActivitySource = (typeof ACTIVITY_SOURCES)[number];

/** An activity source, as a schema (its error lists the values). */
export const activitySourceSchema = z.enum(ACTIVITY_SOURCES);
