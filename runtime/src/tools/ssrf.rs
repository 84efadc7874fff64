//! The guard in front of HTTP tools: a URL built from the model's arguments must not reach the
//! Worker's own machine, a private network or a cloud metadata service.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Checks a URL an HTTP tool is about to fetch and returns it parsed; fetch that [`Url`], not the
/// original text, so that what is fetched is what was checked.
///
/// The URL is parsed the way browsers and `fetch` parse it (WHATWG), which also normalises the
/// numeric tricks: `http://2130706433/`, `http://0x7f.1/` and `http://127.1/` are all
/// `127.0.0.1` by the time the host is judged. Refused are: schemes other than `http` and
/// `https`; URLs with a user name or password; IP addresses that are loopback, unspecified,
/// private, link-local (which holds the metadata address `169.254.169.254`), shared (carrier-grade
/// NAT), multicast, broadcast or reserved, with an IPv4 address embedded in an IPv6 one
/// (`::ffff:127.0.0.1`, `::7f00:1`, `64:ff9b::7f00:1`, `2002:7f00:1::`) judged as that IPv4
/// address; and the names `localhost`, `*.localhost`, `*.localdomain`, `*.local`, `*.home.arpa`
/// and `*.internal` (which covers `metadata.google.internal`), compared in lower case and without
/// a trailing dot.
///
/// A refused host is permitted when it is in `allow_hosts`. Each entry is a host name or an IP
/// address (IPv6 with or without brackets), optionally followed by `:port`; the URL's port (or its
/// scheme's default) must be that port, and an entry without a port means the scheme's default
/// port (443 for `https`, 80 for `http`): `status.test` does not let a tool reach
/// `status.test:6379`. Entries are exact: there are no wildcards. Every entry must be well
/// formed, or the check fails.
///
/// Other host names are allowed. Where a public name resolves to cannot be checked here: a Worker
/// has no DNS resolver, so a name pointing at a private address (or DNS rebinding) is not caught
/// by this function. In production, Cloudflare's own `fetch` refuses to connect to private
/// addresses; this guard is what stops the same requests under `wrangler dev` and workerd, and it
/// gives the model a clear error. Redirects are requests too: fetch with redirects handled
/// manually and pass each `Location` through this check again.
pub fn check_url(url: &str, allow_hosts: &[&str]) -> Result<Url, SsrfError> {
    let allowed = allow_hosts
        .iter()
        .map(|entry| parse_allow_host(entry))
        .collect::<Result<Vec<_>, _>>()?;
    let parsed = Url::parse(url).map_err(|err| SsrfError::Invalid {
        reason: err.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SsrfError::Scheme {
            scheme: parsed.scheme().to_string(),
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SsrfError::Credentials {
            url: shown(&parsed),
        });
    }
    let Some(host) = parsed.host() else {
        return Err(SsrfError::Invalid {
            reason: "the URL has no host".to_string(),
        });
    };
    let host = normalise(host.to_owned());
    let Some((reason, embedded)) = refusal(&host) else {
        return Ok(parsed);
    };
    let permitted = allowed.iter().any(|(allowed_host, allowed_port)| {
        *allowed_host == host && port_matches(*allowed_port, &parsed)
    });
    if permitted {
        return Ok(parsed);
    }
    Err(SsrfError::Refused {
        url: shown(&parsed),
        host: host.to_string(),
        reason,
        embedded,
    })
}

/// Checks a URL like [`check_url`], and also that its host is one of `allow_hosts` when the
/// tool lists any: a tool declared to reach one service cannot be steered to another.
pub fn check_listed_url(url: &str, allow_hosts: &[&str]) -> Result<Url, SsrfError> {
    let parsed = check_url(url, allow_hosts)?;
    if allow_hosts.is_empty() {
        return Ok(parsed);
    }
    let host = parsed.host().map(|h| normalise(h.to_owned()));
    for entry in allow_hosts {
        let (allowed_host, allowed_port) = parse_allow_host(entry)?;
        if Some(&allowed_host) == host.as_ref() && port_matches(allowed_port, &parsed) {
            return Ok(parsed);
        }
    }
    Err(SsrfError::NotListed {
        url: shown(&parsed),
        allowed: allow_hosts.join(", "),
    })
}

/// Whether the URL's port is the entry's, or its scheme's default when the entry has none.
fn port_matches(allowed: Option<u16>, url: &Url) -> bool {
    let default = match url.scheme() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    allowed.or(default) == url.port_or_known_default()
}

/// Why [`check_url`] refused a URL.
///
/// A URL can carry secrets (a template may put an API key in its query, a user may write a
/// password into it), and these errors go back to the model, so they never hold the whole URL:
/// `url` is only its scheme, host and port, followed by `/…` when there was more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsrfError {
    /// The URL does not parse.
    Invalid { reason: String },
    /// The scheme is not `http` or `https`.
    Scheme { scheme: String },
    /// The URL carries a user name or password.
    Credentials { url: String },
    /// The host is a refused address or name and is not allow-listed. `host` is normalised;
    /// `embedded` is the IPv4 address an IPv6 host was judged by.
    Refused {
        url: String,
        host: String,
        reason: Reason,
        embedded: Option<Ipv4Addr>,
    },
    /// An `allow_hosts` entry is malformed: a mistake in the tool's configuration.
    AllowHost { entry: String, reason: String },
    /// The tool lists the hosts it may reach, and this one is not among them.
    NotListed { url: String, allowed: String },
}

/// What kind of address or name a refused host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Loopback,
    Unspecified,
    Private,
    LinkLocal,
    /// 100.64.0.0/10, used by carrier-grade NAT.
    Shared,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, protocol and future-use ranges.
    Reserved,
    /// `localhost` or a name under `localhost`, `localdomain`, `local`, `home.arpa` or `internal`.
    LocalName,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Loopback => "loopback address",
            Reason::Unspecified => "unspecified address",
            Reason::Private => "private network address",
            Reason::LinkLocal => "link-local address, the range of cloud metadata services",
            Reason::Shared => "shared address space of carrier-grade NAT",
            Reason::Multicast => "multicast address",
            Reason::Broadcast => "broadcast address",
            Reason::Reserved => "reserved address range",
            Reason::LocalName => "local host name",
        })
    }
}

impl fmt::Display for SsrfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsrfError::Invalid { reason } => write!(f, "invalid URL: {reason}"),
            SsrfError::Scheme { scheme } => write!(
                f,
                "refused a {scheme} URL: only http and https URLs may be fetched"
            ),
            SsrfError::Credentials { url } => write!(
                f,
                "refused {url}: URLs with a user name or password are not allowed"
            ),
            SsrfError::Refused {
                url,
                reason,
                embedded,
                ..
            } => {
                write!(f, "refused {url}: {reason} (")?;
                if let Some(v4) = embedded {
                    write!(f, "IPv4 {v4} inside IPv6; ")?;
                }
                f.write_str("allow-list the host to permit it)")
            }
            SsrfError::AllowHost { entry, reason } => {
                write!(f, "invalid allow_hosts entry `{entry}`: {reason}")
            }
            SsrfError::NotListed { url, allowed } => {
                write!(f, "refused {url}: this tool may only reach {allowed}")
            }
        }
    }
}

impl std::error::Error for SsrfError {}

/// The URL as errors show it: its origin, and `/…` if it has a path, query or fragment.
fn shown(url: &Url) -> String {
    let more = url.path() != "/" || url.query().is_some() || url.fragment().is_some();
    let rest = if more { "/…" } else { "/" };
    format!("{}{rest}", url.origin().ascii_serialization())
}

/// Lower-cases a domain and removes its trailing dots; addresses are left as they are.
fn normalise(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(domain) => Host::Domain(domain.trim_end_matches('.').to_ascii_lowercase()),
        address => address,
    }
}

/// Parses an `allow_hosts` entry: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn parse_allow_host(entry: &str) -> Result<(Host<String>, Option<u16>), SsrfError> {
    let bad = |reason: &str| SsrfError::AllowHost {
        entry: entry.to_string(),
        reason: reason.to_string(),
    };
    if entry.contains('/') {
        return Err(bad("write the host alone, without a scheme or path"));
    }
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']').ok_or_else(|| bad("missing `]`"))?;
            let port = match &rest[end + 1..] {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected `:port` after `]`"))?,
                ),
            };
            (entry[..end + 2].to_string(), port)
        }
        None => match entry.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host.to_string(), Some(port)),
            Some(_) => (format!("[{entry}]"), None),
            None => (entry.to_string(), None),
        },
    };
    let port = port
        .map(|port| port.parse::<u16>())
        .transpose()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    let host = Host::parse(&host).map_err(|err| bad(&err.to_string()))?;
    Ok((normalise(host), port))
}

/// Why a host is refused, and the IPv4 address an IPv6 host was judged by; `None` if it is not.
fn refusal(host: &Host<String>) -> Option<(Reason, Option<Ipv4Addr>)> {
    match host {
        Host::Domain(name) => {
            let suffixes = ["localhost", "localdomain", "local", "internal", "home.arpa"];
            let local = suffixes.iter().any(|suffix| {
                name == suffix
                    || name
                        .strip_suffix(suffix)
                        .is_some_and(|rest| rest.ends_with('.'))
            });
            (local || name.is_empty()).then_some((Reason::LocalName, None))
        }
        Host::Ipv4(ip) => ipv4_refusal(*ip).map(|reason| (reason, None)),
        Host::Ipv6(ip) => ipv6_refusal(*ip),
    }
}

fn ipv4_refusal(ip: Ipv4Addr) -> Option<Reason> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => Reason::Broadcast,
        (0, _, _) => Reason::Unspecified,
        (127, _, _) => Reason::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Reason::Private,
        (169, 254, _) => Reason::LinkLocal,
        (100, 64..=127, _) => Reason::Shared,
        (224..=239, _, _) => Reason::Multicast,
        // Protocol assignments, the three documentation ranges, benchmarking, future use.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Reason::Reserved,
        (198, 18..=19, _) | (240..=255, _, _) => Reason::Reserved,
        _ => return None,
    })
}

fn ipv6_refusal(ip: Ipv6Addr) -> Option<(Reason, Option<Ipv4Addr>)> {
    if ip.is_unspecified() {
        return Some((Reason::Unspecified, None));
    }
    if ip.is_loopback() {
        return Some((Reason::Loopback, None));
    }
    let s = ip.segments();
    let last32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let embedded = match s {
        // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d).
        [0, 0, 0, 0, 0, 0 | 0xffff, _, _] => Some(last32),
        // IPv4-translated (::ffff:0:a.b.c.d) and well-known NAT64 (64:ff9b::a.b.c.d).
        [0, 0, 0, 0, 0xffff, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32),
        // 6to4 (2002:aabb:ccdd::/48).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    };
    if let Some(v4) = embedded {
        return ipv4_refusal(v4).map(|reason| (reason, Some(v4)));
    }
    let reason = match s {
        [x, ..] if x & 0xfe00 == 0xfc00 => Reason::Private,
        // Site-local, deprecated but still private.
        [x, ..] if x & 0xffc0 == 0xfec0 => Reason::Private,
        [x, ..] if x & 0xffc0 == 0xfe80 => Reason::LinkLocal,
        [x, ..] if x & 0xff00 == 0xff00 => Reason::Multicast,
        // Local-use NAT64, Teredo, documentation (two ranges) and discard-only.
        [0x64, 0xff9b, 1, ..] | [0x2001, 0, ..] | [0x2001, 0xdb8, ..] => Reason::Reserved,
        [0x3fff, x, ..] if x < 0x1000 => Reason::Reserved,
        [0x100, 0, 0, 0, ..] => Reason::Reserved,
        _ => return None,
    };
    Some((reason, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome of a check, without the details.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Want {
        Ok,
        Refused(Reason),
        Scheme,
        Credentials,
        Invalid,
        AllowHost,
    }
    use Reason::*;
    use Want::{AllowHost, Credentials, Invalid, Refused, Scheme};

    fn outcome(result: &Result<Url, SsrfError>) -> Want {
        match result {
            Ok(_) => Want::Ok,
            Err(SsrfError::Refused { reason, .. }) => Refused(*reason),
            Err(SsrfError::Scheme { .. }) => Scheme,
            Err(SsrfError::Credentials { .. }) => Credentials,
            Err(SsrfError::Invalid { .. }) => Invalid,
            Err(SsrfError::AllowHost { .. }) => AllowHost,
            Err(err @ SsrfError::NotListed { .. }) => panic!("check_url never lists: {err}"),
        }
    }

    #[test]
    fn urls() {
        let cases: &[(&str, &[&str], Want)] = &[
            // Public names and addresses.
            ("https://api.example.com/v1?q=1", &[], Want::Ok),
            ("http://example.com:8080/", &[], Want::Ok),
            ("http://8.8.8.8/", &[], Want::Ok),
            ("http://[2606:4700:4700::1111]/", &[], Want::Ok),
            ("http://127.0.0.1.nip.io/", &[], Want::Ok),
            ("http://localhost.example.com/", &[], Want::Ok),
            ("http://notlocal/", &[], Want::Ok),
            ("http://example.com#@127.0.0.1/", &[], Want::Ok),
            ("http://[::ffff:8.8.8.8]/", &[], Want::Ok),
            ("http://172.32.0.1/", &[], Want::Ok),
            ("http://100.128.0.1/", &[], Want::Ok),
            // Schemes and credentials.
            ("ftp://example.com/file", &[], Scheme),
            ("file:///etc/passwd", &[], Scheme),
            ("gopher://127.0.0.1:6379/_INFO", &[], Scheme),
            ("javascript:alert(1)", &[], Scheme),
            ("data:text/plain,hi", &[], Scheme),
            ("HTTP://EXAMPLE.COM/", &[], Want::Ok),
            ("http://user:pw@example.com/", &[], Credentials),
            ("http://user@example.com/", &[], Credentials),
            ("http://:pw@example.com/", &[], Credentials),
            ("http://example.com@127.0.0.1/", &[], Credentials),
            // Unparseable.
            ("not a url", &[], Invalid),
            ("/relative/path", &[], Invalid),
            ("http://", &[], Invalid),
            ("http://256.0.0.1/", &[], Invalid),
            ("http://1.2.3.4.5/", &[], Invalid),
            ("http://[::1/", &[], Invalid),
            ("http://example.com:99999/", &[], Invalid),
            // Loopback, in every spelling the WHATWG parser normalises.
            ("http://127.0.0.1/", &[], Refused(Loopback)),
            ("http://127.255.255.254:8080/x", &[], Refused(Loopback)),
            ("http://2130706433/", &[], Refused(Loopback)),
            ("http://0x7f.1/", &[], Refused(Loopback)),
            ("http://0x7f000001/", &[], Refused(Loopback)),
            ("http://0177.0.0.1/", &[], Refused(Loopback)),
            ("http://127.1/", &[], Refused(Loopback)),
            ("http://127.0.0.1./", &[], Refused(Loopback)),
            ("http://127.0.0.1:80\\@example.com/", &[], Refused(Loopback)),
            ("http://127.0.0.1#@example.com/", &[], Refused(Loopback)),
            ("  http://127.0.0.1/  ", &[], Refused(Loopback)),
            ("http://127.0.0.%31/", &[], Refused(Loopback)),
            ("http://１２７.０.０.１/", &[], Refused(Loopback)),
            ("http://[::1]/", &[], Refused(Loopback)),
            ("http://[0:0:0:0:0:0:0:1]:8080/", &[], Refused(Loopback)),
            // Unspecified.
            ("http://0.0.0.0/", &[], Refused(Unspecified)),
            ("http://0/", &[], Refused(Unspecified)),
            ("http://0.1.2.3/", &[], Refused(Unspecified)),
            ("http://[::]/", &[], Refused(Unspecified)),
            // Private, shared and link-local.
            ("http://10.0.0.1/", &[], Refused(Private)),
            ("http://172.16.0.1/", &[], Refused(Private)),
            ("http://172.31.255.255/", &[], Refused(Private)),
            ("http://192.168.1.1/", &[], Refused(Private)),
            ("http://[fc00::1]/", &[], Refused(Private)),
            ("http://[fd12:3456::1]/", &[], Refused(Private)),
            ("http://[fec0::1]/", &[], Refused(Private)),
            ("http://100.64.0.1/", &[], Refused(Shared)),
            ("http://100.127.255.255/", &[], Refused(Shared)),
            (
                "http://169.254.169.254/latest/meta-data/",
                &[],
                Refused(LinkLocal),
            ),
            ("http://169.254.0.1/", &[], Refused(LinkLocal)),
            ("http://[fe80::1]/", &[], Refused(LinkLocal)),
            ("http://[febf::1]/", &[], Refused(LinkLocal)),
            // Multicast, broadcast and reserved.
            ("http://224.0.0.1/", &[], Refused(Multicast)),
            ("http://239.255.255.250/", &[], Refused(Multicast)),
            ("http://[ff02::1]/", &[], Refused(Multicast)),
            ("http://255.255.255.255/", &[], Refused(Broadcast)),
            ("http://240.0.0.1/", &[], Refused(Reserved)),
            ("http://192.0.2.1/", &[], Refused(Reserved)),
            ("http://198.51.100.1/", &[], Refused(Reserved)),
            ("http://203.0.113.1/", &[], Refused(Reserved)),
            ("http://198.18.0.1/", &[], Refused(Reserved)),
            ("http://192.0.0.170/", &[], Refused(Reserved)),
            ("http://[2001:db8::1]/", &[], Refused(Reserved)),
            ("http://[3fff::1]/", &[], Refused(Reserved)),
            ("http://[2001::1]/", &[], Refused(Reserved)),
            ("http://[100::1]/", &[], Refused(Reserved)),
            ("http://[64:ff9b:1::1]/", &[], Refused(Reserved)),
            // IPv4 embedded in IPv6 is judged as IPv4.
            ("http://[::ffff:127.0.0.1]/", &[], Refused(Loopback)),
            ("http://[::ffff:7f00:1]/", &[], Refused(Loopback)),
            ("http://[::127.0.0.1]/", &[], Refused(Loopback)),
            ("http://[::7f00:1]/", &[], Refused(Loopback)),
            ("http://[::ffff:0:7f00:1]/", &[], Refused(Loopback)),
            ("http://[64:ff9b::7f00:1]/", &[], Refused(Loopback)),
            ("http://[64:ff9b::10.0.0.1]/", &[], Refused(Private)),
            ("http://[2002:7f00:1::1]/", &[], Refused(Loopback)),
            ("http://[2002:c0a8:101::]/", &[], Refused(Private)),
            ("http://[::ffff:169.254.169.254]/", &[], Refused(LinkLocal)),
            ("http://[::ffff:0.0.0.0]/", &[], Refused(Unspecified)),
            // Local names, after lower-casing and without trailing dots.
            ("http://localhost/", &[], Refused(LocalName)),
            ("http://LOCALHOST./", &[], Refused(LocalName)),
            ("http://localhost../", &[], Refused(LocalName)),
            ("http://localhost%2e/", &[], Refused(LocalName)),
            ("http://ｌｏｃａｌｈｏｓｔ/", &[], Refused(LocalName)),
            ("http://api.localhost:3000/", &[], Refused(LocalName)),
            ("http://printer.local/", &[], Refused(LocalName)),
            ("http://db.internal/", &[], Refused(LocalName)),
            (
                "http://metadata.google.internal/computeMetadata/v1/",
                &[],
                Refused(LocalName),
            ),
            ("http://Metadata.Google.Internal./", &[], Refused(LocalName)),
            ("http://localhost.localdomain/", &[], Refused(LocalName)),
            ("http://router.home.arpa/", &[], Refused(LocalName)),
            ("http://./", &[], Refused(LocalName)),
            ("http://notarpa/", &[], Want::Ok),
            // The allow-list: exact host, and the scheme's default port unless one is given.
            ("http://127.0.0.1:8080/", &["127.0.0.1:8080"], Want::Ok),
            (
                "http://127.0.0.1:9090/",
                &["127.0.0.1:8080"],
                Refused(Loopback),
            ),
            ("http://127.0.0.1/", &["127.0.0.1:8080"], Refused(Loopback)),
            ("http://127.0.0.1/", &["127.0.0.1:80"], Want::Ok),
            ("https://127.0.0.1/", &["127.0.0.1:80"], Refused(Loopback)),
            ("https://127.0.0.1/", &["127.0.0.1:443"], Want::Ok),
            ("http://127.0.0.1:1234/", &["127.0.0.1"], Refused(Loopback)),
            ("http://127.0.0.1/", &["127.0.0.1"], Want::Ok),
            ("http://127.0.0.1:80/", &["127.0.0.1"], Want::Ok),
            ("http://2130706433:8080/", &["127.0.0.1:8080"], Want::Ok),
            ("http://127.0.0.2/", &["127.0.0.1"], Refused(Loopback)),
            (
                "http://[::ffff:127.0.0.1]/",
                &["127.0.0.1"],
                Refused(Loopback),
            ),
            ("http://localhost:8787/", &["localhost:8787"], Want::Ok),
            ("http://LOCALHOST.:8787/", &["localhost:8787"], Want::Ok),
            ("http://localhost:8787/", &["Localhost.:8787"], Want::Ok),
            ("http://api.localhost/", &["localhost"], Refused(LocalName)),
            (
                "http://db.internal/",
                &["example.com", "db.internal"],
                Want::Ok,
            ),
            ("http://[::1]:8080/", &["::1"], Refused(Loopback)),
            ("http://[::1]/", &["::1"], Want::Ok),
            ("http://[::1]:8080/", &["[::1]:8080"], Want::Ok),
            ("http://[::1]:8081/", &["[::1]:8080"], Refused(Loopback)),
            ("http://[0::1]/", &["[::0:1]"], Want::Ok),
            ("http://169.254.169.254/", &["169.254.169.254"], Want::Ok),
            // The allow-list does not lift the scheme or credentials rules.
            ("ftp://127.0.0.1/", &["127.0.0.1"], Scheme),
            ("http://u:p@127.0.0.1/", &["127.0.0.1"], Credentials),
            // Malformed entries are configuration errors.
            ("http://example.com/", &["http://localhost"], AllowHost),
            ("http://example.com/", &["localhost:http"], AllowHost),
            ("http://example.com/", &["localhost:70000"], AllowHost),
            ("http://example.com/", &["[::1"], AllowHost),
            ("http://example.com/", &["[::1]8080"], AllowHost),
            ("http://example.com/", &["exa mple.com"], AllowHost),
            ("http://example.com/", &[""], AllowHost),
        ];
        let mut failures = Vec::new();
        for (url, allow, want) in cases {
            let result = check_url(url, allow);
            if outcome(&result) != *want {
                failures.push(format!("{url} {allow:?}: want {want:?}, got {result:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn the_checked_url_is_the_normalised_one() {
        let url = check_url("HTTP://Example.COM:80/a/../b?x=1", &[]).unwrap();
        assert_eq!(url.as_str(), "http://example.com/b?x=1");
        let url = check_url("http://0x7f.1:8080/", &["127.0.0.1:8080"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn messages_name_the_url_and_the_reason() {
        let message = |url: &str| check_url(url, &[]).unwrap_err().to_string();
        let cases = [
            (
                "http://127.0.0.1/",
                "refused http://127.0.0.1/: loopback address (allow-list the host to permit it)",
            ),
            (
                "http://2130706433/x",
                "refused http://127.0.0.1/…: loopback address (allow-list the host to permit it)",
            ),
            (
                "http://[::1]:8080/?key=SECRET",
                "refused http://[::1]:8080/…: loopback address (allow-list the host to permit it)",
            ),
            (
                "http://[::ffff:169.254.169.254]/",
                "refused http://[::ffff:a9fe:a9fe]/: link-local address, the range of cloud metadata services (IPv4 169.254.169.254 inside IPv6; allow-list the host to permit it)",
            ),
            (
                "http://LOCALHOST./",
                "refused http://localhost./: local host name (allow-list the host to permit it)",
            ),
            (
                "file:///etc/passwd",
                "refused a file URL: only http and https URLs may be fetched",
            ),
            (
                "http://user:secret@example.com/a?b",
                "refused http://example.com/…: URLs with a user name or password are not allowed",
            ),
            ("http://256.0.0.1/", "invalid URL: invalid IPv4 address"),
            ("http://u:SECRET@[::1:80/", "invalid URL: invalid IPv6 address"),
        ];
        for (url, want) in cases {
            assert_eq!(message(url), want);
        }
        assert_eq!(
            check_url("http://example.com/", &["localhost:x"])
                .unwrap_err()
                .to_string(),
            "invalid allow_hosts entry `localhost:x`: the port must be a number from 0 to 65535"
        );
        let Err(SsrfError::Refused { host, .. }) = check_url("http://LOCALHOST./", &[]) else {
            panic!("not refused");
        };
        assert_eq!(host, "localhost");
    }

    #[test]
    fn listed_hosts_restrict_where_a_tool_may_go() {
        let allow = ["api.example.com", "127.0.0.1:8080"];
        for ok in [
            "https://api.example.com/v1?q=x",
            "https://API.example.com./",
            "http://127.0.0.1:8080/",
        ] {
            assert!(check_listed_url(ok, &allow).is_ok(), "{ok}");
        }
        for refused in [
            "https://evil.example.com/",
            "http://127.0.0.1:9090/",
            "http://10.0.0.1/",
            // A port-less entry is the scheme's default port, not every port.
            "https://api.example.com:6379/",
            "http://api.example.com:22/",
        ] {
            let err = check_listed_url(refused, &allow).unwrap_err().to_string();
            assert!(err.starts_with("refused"), "{refused}: {err}");
        }
        assert!(check_listed_url("http://api.example.com/", &allow).is_ok());
        assert!(check_listed_url("https://anywhere.example.org/", &[]).is_ok());
    }
}
