import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import {
  checkUrlSource,
  parseUrlAllowlist,
  specialAddressKind,
} from '../../src/domain/url-allowlist.js';

const PUBLIC = ['93.184.216.34'];

describe('parseUrlAllowlist', () => {
  it('reads hosts, *.suffix wildcards, ports and IPv6 literals, normalised', () => {
    expect(
      parseUrlAllowlist(
        ' Files.Example.COM , *.cdn.example.net:8443,127.1:9000,[::1]:8080, ::1 ,, bücher.example',
      ),
    ).toEqual([
      { host: 'files.example.com', wildcard: false, port: undefined },
      { host: 'cdn.example.net', wildcard: true, port: 8443 },
      { host: '127.0.0.1', wildcard: false, port: 9000 },
      { host: '::1', wildcard: false, port: 8080 },
      { host: '::1', wildcard: false, port: undefined },
      { host: 'xn--bcher-kva.example', wildcard: false, port: undefined },
    ]);
    expect(parseUrlAllowlist('')).toEqual([]);
  });

  it('names every bad entry at once', () => {
    const err = (() => {
      try {
        parseUrlAllowlist('ok.example.com,*.10.0.0.1,host:99999,a/b,[nothost]:80,x:y:z');
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toHaveLength(5);
    expect(err!.problems.join('\n')).toMatch(/\*\.10\.0\.0\.1.*wildcard on an IP/);
    expect(err!.problems.join('\n')).toMatch(/host:99999.*port/);
    expect(err!.problems.join('\n')).toMatch(/"a\/b" is not a host name/);
  });
});

describe('checkUrlSource', () => {
  const list = parseUrlAllowlist(
    'files.example.com,*.example.org,mirror.example.net:8443,127.0.0.1',
  );

  it('allows a listed host, a host below a wildcard, and a listed port', () => {
    expect(checkUrlSource('https://files.example.com/a.log', list, PUBLIC)).toBeUndefined();
    expect(checkUrlSource('http://a.b.example.org/x', list, PUBLIC)).toBeUndefined();
    expect(checkUrlSource('https://mirror.example.net:8443/x', list, PUBLIC)).toBeUndefined();
    expect(checkUrlSource('HTTPS://FILES.EXAMPLE.COM./a', list, PUBLIC)).toBeUndefined();
  });

  it('refuses hosts not on the list, naming them', () => {
    expect(checkUrlSource('https://evil.example.com/x', list, PUBLIC)).toMatch(
      /host evil\.example\.com .*not on URL_SOURCE_ALLOWLIST/,
    );
    // A wildcard covers what is below the suffix, not the suffix, nor a look-alike.
    expect(checkUrlSource('https://example.org/x', list, PUBLIC)).toMatch(/not on/);
    expect(checkUrlSource('https://badexample.org/x', list, PUBLIC)).toMatch(/not on/);
    expect(checkUrlSource('https://files.example.com.evil.io/x', list, PUBLIC)).toMatch(/not on/);
    // The port of an entry that names one is part of the match.
    expect(checkUrlSource('https://mirror.example.net/x', list, PUBLIC)).toMatch(/port 443/);
  });

  it('refuses schemes other than http(s) and URLs with credentials', () => {
    expect(checkUrlSource('ftp://files.example.com/x', list, PUBLIC)).toMatch(/only http/);
    expect(checkUrlSource('file:///etc/passwd', list, PUBLIC)).toMatch(/only http/);
    expect(checkUrlSource('https://u:p@files.example.com/x', list, PUBLIC)).toMatch(/credentials/);
    expect(checkUrlSource('not a url', list, PUBLIC)).toMatch(/not a URL/);
  });

  it('refuses a wildcard host that resolves to a private, loopback or link-local address', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.5',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd12:3456::1',
      'fe80::1%eth0',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::a9fe:a9fe',
      '2002:c0a8:0101::1',
      'ff02::1',
      '224.0.0.1',
    ]) {
      expect(
        checkUrlSource('https://a.example.org/x', list, [...PUBLIC, address]),
        address,
      ).toMatch(/resolves to .* address/);
    }
  });

  it('allows a private address only for a host listed exactly', () => {
    expect(checkUrlSource('http://127.0.0.1:9000/x', list, ['127.0.0.1'])).toBeUndefined();
    const wild = parseUrlAllowlist('*.example.com');
    expect(checkUrlSource('http://127.0.0.1:9000/x', wild, ['127.0.0.1'])).toMatch(/not on/);
    expect(checkUrlSource('http://files.example.com/x', wild, ['127.0.0.1'])).toMatch(
      /resolves to 127\.0\.0\.1, a loopback address/,
    );
    expect(
      checkUrlSource('http://files.example.com/x', parseUrlAllowlist('files.example.com'), [
        '127.0.0.1',
      ]),
    ).toBeUndefined();
  });

  it('refuses a host that resolved to nothing', () => {
    expect(checkUrlSource('https://files.example.com/x', list, [])).toMatch(/no address/);
  });
});

describe('specialAddressKind', () => {
  it('says public addresses are public', () => {
    for (const a of [
      '8.8.8.8',
      '93.184.216.34',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '172.32.0.1',
    ]) {
      expect(specialAddressKind(a), a).toBeUndefined();
    }
  });

  it('names the kind of special addresses', () => {
    expect(specialAddressKind('127.0.0.53')).toBe('loopback');
    expect(specialAddressKind('172.31.255.255')).toBe('private');
    expect(specialAddressKind('169.254.0.1')).toBe('link-local');
    expect(specialAddressKind('255.255.255.255')).toBe('reserved');
    expect(specialAddressKind('fc00::1')).toBe('unique-local');
    expect(specialAddressKind('fe80::1')).toBe('link-local');
    expect(specialAddressKind('::')).toBe('unspecified');
    expect(specialAddressKind('::ffff:10.0.0.1')).toBe('private');
    expect(specialAddressKind('ff05::2')).toBe('multicast');
    expect(specialAddressKind('2001:db8::1')).toBe('documentation');
  });
});
