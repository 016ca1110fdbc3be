import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../config.js';

/** One URL_SOURCE_ALLOWLIST entry: `host`, `*.suffix`, each optionally with `:port`. */
export interface UrlAllowlistEntry {
  /** Normalised as URL.hostname gives it (lower case, punycode, IPv6 without brackets). */
  host: string;
  /** `*.suffix`: any host below the suffix, not the suffix itself. */
  wildcard: boolean;
  /** Only this port when set; any port otherwise. */
  port: number | undefined;
}

/** The parsed allow-list. */
export type UrlAllowlist = readonly UrlAllowlistEntry[];

/** Parses URL_SOURCE_ALLOWLIST (comma-separated); throws a ConfigError naming every bad entry. */
export function parseUrlAllowlist(raw: string): UrlAllowlist {
  const entries: UrlAllowlistEntry[] = [];
  const problems: string[] = [];
  for (const item of raw.split(',')) {
    const entry = item.trim().toLowerCase();
    if (entry === '') continue;
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') {
      problems.push(`URL_SOURCE_ALLOWLIST: "${entry}" ${parsed}`);
    } else {
      entries.push(parsed);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function parseEntry(entry: string): UrlAllowlistEntry | string {
  const wildcard = entry.startsWith('*.');
  const rest = wildcard ? entry.slice(2) : entry;
  let hostPart = rest;
  let portPart: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    hostPart = bracketed[1] ?? '';
    portPart = bracketed[2];
    if (!isIPv6(hostPart)) return 'has brackets around something that is not an IPv6 address';
  } else if (rest.split(':').length === 2) {
    [hostPart = '', portPart] = rest.split(':');
  } else if (rest.includes(':') && !isIPv6(rest)) {
    return 'is not host, *.suffix, host:port or an IPv6 address';
  }
  let port: number | undefined;
  if (portPart !== undefined) {
    port = Number(portPart);
    if (!/^\d{1,5}$/.test(portPart) || port < 1 || port > 65535)
      return 'has a port outside 1..65535';
  }
  if (hostPart === '' || /[/?#@\s\\]/.test(hostPart)) return 'is not a host name';
  let host: string;
  try {
    // The same normalisation URLs get (case, punycode, 127.1 → 127.0.0.1), so both compare.
    const literal = isIPv6(hostPart) ? `[${hostPart}]` : hostPart;
    host = stripBrackets(new URL(`http://${literal}/`).hostname).replace(/\.$/, '');
  } catch {
    return 'is not a host name';
  }
  const ip = isIPv4(host) || isIPv6(host);
  if (wildcard && ip) return 'puts a wildcard on an IP address';
  if (!ip && !DNS_NAME.test(host)) return 'is not a host name';
  return { host, wildcard, port };
}

/**
 * Why an artifact.upload may not fetch this URL, or undefined when it may: http(s) only,
 * no credentials in the URL, the host (and port, when the entry names one) on the
 * allow-list, and every address the host resolved to public — unless that exact host is
 * listed, which is how an operator allows an internal server on purpose.
 */
export function checkUrlSource(
  url: string,
  allowlist: UrlAllowlist,
  resolved: readonly string[],
): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return `uses ${u.protocol.replace(/:$/, '')}; only http and https are allowed`;
  }
  // They would be kept in the job's data, readable on the dashboard.
  if (u.username !== '' || u.password !== '') return 'must not carry credentials';
  const host = stripBrackets(u.hostname).replace(/\.$/, '');
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  const portMatches = (e: UrlAllowlistEntry) => e.port === undefined || e.port === port;
  const exact = allowlist.some((e) => !e.wildcard && e.host === host && portMatches(e));
  const below = allowlist.some((e) => e.wildcard && host.endsWith(`.${e.host}`) && portMatches(e));
  if (!exact && !below) return `host ${host} (port ${port}) is not on URL_SOURCE_ALLOWLIST`;
  if (resolved.length === 0) return `host ${host} resolved to no address`;
  if (!exact) {
    for (const address of resolved) {
      const kind = specialAddressKind(address);
      if (kind !== undefined) {
        return `host ${host} resolves to ${address}, a ${kind} address; only a host listed exactly may`;
      }
    }
  }
  return undefined;
}

/** The kind of a non-public address (loopback, private, link-local, …), or undefined for a public one. */
export function specialAddressKind(address: string): string | undefined {
  const plain = address.replace(/%.*$/, '');
  if (isIPv4(plain)) return ipv4Kind(ipv4Number(plain));
  if (!isIPv6(plain)) return 'unparseable';
  const b = ipv6Bytes(plain);
  const word = (i: number) => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4At = (i: number) =>
    (((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0)) >>>
    0;
  if (zeros(0, 16)) return 'unspecified';
  if (zeros(0, 15) && b[15] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) reach the IPv4 address inside.
  if (zeros(0, 10) && word(10) === 0xffff) return ipv4Kind(v4At(12));
  if (word(0) === 0x64 && word(2) === 0xff9b && zeros(4, 12)) return ipv4Kind(v4At(12));
  // 6to4 (2002:AABB:CCDD::) carries an IPv4 address in bits 16..48.
  if (word(0) === 0x2002) return ipv4Kind(v4At(2));
  if (zeros(0, 12)) return 'reserved'; // IPv4-compatible ::a.b.c.d, deprecated
  const first = b[0] ?? 0;
  if ((first & 0xfe) === 0xfc) return 'unique-local';
  if (first === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'link-local';
  if (first === 0xfe && ((b[1] ?? 0) & 0xc0) === 0xc0) return 'site-local';
  if (first === 0xff) return 'multicast';
  if (word(0) === 0x2001 && word(2) === 0x0db8) return 'documentation';
  if (word(0) === 0x0100 && zeros(2, 8)) return 'discard';
  return undefined;
}

// [first address, prefix length, kind] — RFC 6890's special-purpose IPv4 blocks.
const IPV4_SPECIAL: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'private'], // carrier-grade NAT
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // includes 255.255.255.255
];

function ipv4Kind(n: number): string | undefined {
  for (const [base, bits, kind] of IPV4_SPECIAL) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === ipv4Number(base)) return kind;
  }
  return undefined;
}

function ipv4Number(address: string): number {
  return address.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}

/** The 16 bytes of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const n = ipv4Number(dotted[1]);
    text = `${text.slice(0, dotted.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const bytes: number[] = [];
  for (const group of [...left, ...fill, ...right]) {
    const v = parseInt(group, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return bytes;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
