import { BlockList, isIP } from 'node:net';

/** One network of a CIDR list: its address, prefix length and family. */
export interface NetworkCidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * Parses a comma-separated list of IPv4/IPv6 networks (`10.0.0.0/8, fd00::/8`); a bare
 * address is its own /32 or /128. Returns every entry's problem, naming it, so start-up can
 * report them all at once.
 */
export function parseCidrList(raw: string): { cidrs: NetworkCidr[]; problems: string[] } {
  const cidrs: NetworkCidr[] = [];
  const problems: string[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const version = isIP(address);
    if (version === 0) {
      problems.push(`"${entry}" is not an IPv4 or IPv6 network (e.g. 10.0.0.0/8, fd00::/8)`);
      continue;
    }
    const max = version === 4 ? 32 : 128;
    const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= max)) {
      problems.push(`"${entry}" has a prefix length outside 0..${max}`);
      continue;
    }
    cidrs.push({ address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' });
  }
  return { cidrs, problems };
}

/**
 * Whether an address (as a socket reports it) lies in one of the networks. An IPv4-mapped
 * IPv6 address (`::ffff:10.1.2.3`, a dual-stack listener's view of an IPv4 client) is
 * matched as the IPv4 address it is.
 */
export function cidrMatcher(cidrs: readonly NetworkCidr[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  return (address) => {
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    const version = isIP(plain);
    if (version === 0) return false;
    return list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  };
}
