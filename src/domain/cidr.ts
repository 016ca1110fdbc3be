import { isIP } from 'node:net';

/** A network in CIDR notation, normalized (host bits cleared), with its first and last address. */
export interface Cidr {
  family: 4 | 6;
  /** `10.1.0.0/16`, `2001:db8::/32` (host bits cleared, as PostgreSQL's cidr wants it). */
  text: string;
  prefix: number;
  /** The network's lowest and highest address, big-endian bytes (4 or 16). */
  first: Uint8Array;
  last: Uint8Array;
}

/** Parses `a.b.c.d/n` or `x:y::/n` (a bare address is a /32 or /128); undefined when invalid. */
export function parseCidr(raw: string): Cidr | undefined {
  const slash = raw.indexOf('/');
  const address = (slash === -1 ? raw : raw.slice(0, slash)).trim();
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  if (address.includes('%')) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(bits) : raw.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  const bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  const first = new Uint8Array(bytes.length);
  const last = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    first[i] = bytes[i]! & mask;
    last[i] = (bytes[i]! & mask) | (~mask & 0xff);
  }
  const network = family === 4 ? [...first].join('.') : ipv6Text(first);
  return { family, text: `${network}/${prefix}`, prefix, first, last };
}

/** Whether an address (ipv4 or ipv6 text) is inside a network. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const family = isIP(address);
  if (family !== cidr.family) return false;
  const bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  return compareBytes(bytes, cidr.first) >= 0 && compareBytes(bytes, cidr.last) <= 0;
}

/** An address's bytes as upper-case hex (ClickHouse's hex() of IPv6StringToNum prints the same). */
export function bytesHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** An IPv4 address's bytes as one unsigned 32-bit number. */
export function bytesUint32(bytes: Uint8Array): number {
  return Buffer.from(bytes).readUInt32BE(0);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function ipv4Bytes(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}

/** An IPv6 address (validated by isIP) as 16 bytes; an embedded IPv4 tail is allowed. */
function ipv6Bytes(address: string): Uint8Array {
  let text = address.toLowerCase();
  if (text.includes('.')) {
    const colon = text.lastIndexOf(':');
    const [a = 0, b = 0, c = 0, d = 0] = text
      .slice(colon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  return bytes;
}

/** 16 bytes as the canonical (compressed, lower-case) IPv6 text. */
function ipv6Text(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // The URL parser prints the RFC 5952 form (the longest run of zero groups as ::).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
