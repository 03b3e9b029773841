//! Where a webhook may be sent (DESIGN.md, Webhooks: "URLs that resolve to
//! loopback, private, link-local, CGNAT or unique-local addresses are
//! refused, unless an operator allow-list names them"). Pure: the caller
//! resolves names and hands the addresses in, when the URL is saved and
//! again at every delivery (DNS can change between the two).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use url::{Host, Url};

use crate::domain::DomainError;

/// The operator's allow-list (`--webhook-allow-hosts`): host names, exact
/// and case-insensitive, or addresses and CIDRs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut list = AllowList::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let bare = entry.trim_start_matches('[').trim_end_matches(']');
            if let Ok(net) = IpNet::from_str(bare) {
                list.nets.push(net);
            } else if let Ok(ip) = IpAddr::from_str(bare) {
                list.nets.push(IpNet::from(ip));
            } else if entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                list.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!("bad webhook allow-list entry {entry:?}"));
            }
        }
        Ok(list)
    }

    /// The list names this host (by name, not address).
    pub fn names_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn names_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The URL's host is on the list, by name or address.
    fn names(&self, host: &Target) -> bool {
        match host {
            Target::Name(name) => self.names_host(name),
            Target::Ip(ip) => self.names_ip(*ip),
        }
    }
}

/// The host a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Ip(IpAddr),
}

/// An IPv4 address inside an IPv6 one (`::ffff:a.b.c.d`) is judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        // CGNAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Reserved (240/4).
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique-local fc00::/7 (fd00::/8 inside it) and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Loopback, private, link-local (169.254.169.254), CGNAT, unique-local,
/// multicast, unspecified: addresses inside the operator's network.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

/// Whether a resolved address may be connected to.
pub fn address_allowed(ip: IpAddr, allow: &AllowList) -> bool {
    !is_internal(ip) || allow.names_ip(canonical(ip)) || allow.names_ip(ip)
}

fn refused(message: impl Into<String>) -> DomainError {
    DomainError::new("url", message)
}

/// Checks a URL's form: absolute, https (or http to an allowed host), no
/// credentials, and a literal address or `localhost` only when allowed.
/// Names are resolved and checked by the caller ([`address_allowed`]).
pub fn check_url(raw: &str, allow: &AllowList) -> Result<(Url, Target), DomainError> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(refused("must be at most 2048 characters"));
    }
    let url = Url::parse(raw).map_err(|_| refused("is not an absolute URL"))?;
    let target = match url.host() {
        Some(Host::Domain(name)) => Target::Name(name.to_ascii_lowercase()),
        Some(Host::Ipv4(ip)) => Target::Ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Target::Ip(IpAddr::V6(ip)),
        None => return Err(refused("has no host")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("must not carry credentials"));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow.names(&target) => {}
        "http" => return Err(refused("must be https (http only to an allowed host)")),
        _ => return Err(refused("must be an https URL")),
    }
    let internal = match &target {
        Target::Ip(ip) => !address_allowed(*ip, allow),
        Target::Name(name) => {
            (name == "localhost" || name.ends_with(".localhost")) && !allow.names(&target)
        }
    };
    if internal {
        return Err(refused(
            "points at a loopback, private, link-local or otherwise internal address",
        ));
    }
    Ok((url, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
            .expect("allow-list")
    }

    #[test]
    fn internal_addresses_of_every_kind_are_refused_and_public_ones_pass() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip} is internal");
        }
        for ip in ["8.8.8.8", "100.128.0.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip} is public");
        }
    }

    #[test]
    fn refused_urls_name_the_url_field() {
        let none = AllowList::default();
        for url in [
            "https://127.0.0.1/h",
            "https://10.0.0.1/h",
            "https://169.254.169.254/latest",
            "https://[::1]/h",
            "https://[fd00::1]/h",
            "http://hooks.example.com/h",
            "ftp://hooks.example.com",
            "not a url",
            "https://user:pw@hooks.example.com",
            "https://localhost/h",
            "https://[::ffff:10.0.0.1]/h",
        ] {
            let err = check_url(url, &none).expect_err(url);
            assert_eq!(err.field, "url", "{url}");
        }
        assert!(check_url("https://hooks.example.com/h", &none).is_ok());
        assert!(check_url("https://8.8.8.8/h", &none).is_ok());
    }

    #[test]
    fn the_allow_list_admits_http_and_internal_addresses_it_names() {
        let list = allow(&["127.0.0.1", "10.1.0.0/16", "hooks.internal", "[fd00::1]"]);
        assert!(check_url("http://127.0.0.1:9000/h", &list).is_ok());
        assert!(check_url("http://10.1.2.3/h", &list).is_ok());
        assert!(check_url("http://HOOKS.internal/h", &list).is_ok());
        assert!(check_url("https://[fd00::1]/h", &list).is_ok());
        assert!(check_url("http://10.2.0.1/h", &list).is_err());
        assert!(address_allowed("10.1.9.9".parse().expect("ip"), &list));
        assert!(!address_allowed("10.2.9.9".parse().expect("ip"), &list));
        assert!(AllowList::parse(&["bad host!".into()]).is_err());
    }
}
