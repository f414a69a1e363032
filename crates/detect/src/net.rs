//! Networks of source addresses, two ways: [`Network::of`], the /24 or /64 a caller calls
//! from and whether it is public (baselines, homes), and [`masked_network`], an address masked
//! to configurable prefix lengths (`new_access_key_used`'s `ipv4_prefix`/`ipv6_prefix`). They
//! differ in more than the prefix (leading-zero octets, how IPv6 is written), and both are in
//! checkpointed state: keep them apart.

use std::net::{IpAddr, Ipv6Addr};

/// A caller's network: the /24 of an IPv4 address, the /64 of an IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Network {
    /// `198.51.100.0/24`, `2001:db8:1:2::/64`.
    pub prefix: String,
    /// False for private, shared (CGNAT), loopback and link-local addresses.
    pub public: bool,
}

impl Network {
    /// The network of a `sourceIPAddress`; `None` for AWS service hostnames (`ec2.amazonaws.com`),
    /// `AWS Internal` and anything else that is not an address.
    pub(crate) fn of(source_ip: &str) -> Option<Network> {
        let text = source_ip.trim();
        // Dotted IPv4 read directly (std's parser, general, costs many times more and this
        // runs for every distinct address of every batch); anything else goes to std's.
        let ip: IpAddr = match dotted_v4(text) {
            Some(v4) => IpAddr::V4(v4),
            None => text.parse().ok()?,
        };
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                let cgnat = o[0] == 100 && (o[1] & 0xc0) == 64;
                let public =
                    !(v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || cgnat);
                Some(Network { prefix: format!("{}.{}.{}.0/24", o[0], o[1], o[2]), public })
            }
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Network::of(&v4.to_string());
                }
                let s = v6.segments();
                let public = !((s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || v6.is_loopback());
                Some(Network { prefix: format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]), public })
            }
        }
    }
}

/// `a.b.c.d` exactly as std's `Ipv4Addr` parser accepts it (four decimal octets of one to
/// three digits, no leading zero, at most 255); `None` for anything else.
fn dotted_v4(s: &str) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let p = parts.next()?.as_bytes();
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = p.iter().fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
        *o = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(std::net::Ipv4Addr::from(octets))
}

/// A source address masked to `v4_prefix` or `v6_prefix` bits, as a network (`203.0.113.0/24`);
/// None for AWS-internal or unparsable addresses. IPv4 octets with leading zeros (as in
/// some exports) are read as decimal.
pub(crate) fn masked_network(ip: &str, v4_prefix: u8, v6_prefix: u8) -> Option<String> {
    let ip = ip.trim();
    let v4 = |s: &str| -> Option<u32> {
        let mut parts = s.split('.');
        let mut n: u32 = 0;
        for _ in 0..4 {
            let p = parts.next()?;
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n = (n << 8) | u32::from(p.parse::<u8>().ok()?);
        }
        parts.next().is_none().then_some(n)
    };
    let show4 = |n: u32| {
        let len = u32::from(v4_prefix.min(32));
        let masked = if len == 0 { 0 } else { n & (u32::MAX << (32 - len)) };
        let o = masked.to_be_bytes();
        format!("{}.{}.{}.{}/{len}", o[0], o[1], o[2], o[3])
    };
    if let Some(n) = v4(ip) {
        return Some(show4(n));
    }
    let addr: Ipv6Addr = ip.split('%').next().unwrap_or(ip).trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    if let Some(v) = addr.to_ipv4_mapped() {
        return Some(show4(u32::from(v)));
    }
    let len = u32::from(v6_prefix.min(128));
    let n = u128::from(addr);
    let masked = if len == 0 { 0 } else { n & (u128::MAX << (128 - len)) };
    Some(format!("{}/{len}", Ipv6Addr::from(masked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_v4_reads_what_std_reads() {
        let cases = [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.-4",
            "1.2.3.0004",
            "10.0.0.1a",
            "",
            "::1",
            "1.2.3.4:80",
            "99.099.1.1",
            "a.b.c.d",
            "1.2.3.٣",
        ];
        for c in cases {
            assert_eq!(dotted_v4(c), c.parse::<std::net::Ipv4Addr>().ok(), "{c:?}");
        }
        for v in 0..=300u16 {
            let c = format!("{v}.{v}.1.{}", 300 - v);
            assert_eq!(dotted_v4(&c), c.parse::<std::net::Ipv4Addr>().ok(), "{c:?}");
        }
    }

    #[test]
    fn networks_are_slash_24_or_64_and_know_whether_they_are_public() {
        let n = Network::of("203.0.113.77").expect("ipv4");
        assert_eq!(n, Network { prefix: "203.0.113.0/24".into(), public: true });
        assert!(!Network::of("10.1.2.3").expect("private").public);
        assert!(!Network::of("100.64.1.1").expect("cgnat").public);
        assert_eq!(Network::of("2001:db8:1:2:3:4:5:6").expect("v6").prefix, "2001:db8:1:2::/64");
        assert_eq!(Network::of("ec2.amazonaws.com"), None);
        assert_eq!(Network::of("AWS Internal"), None);
    }

    #[test]
    fn networks_are_prefixes_and_aws_internal_addresses_are_none() {
        assert_eq!(masked_network("203.0.113.77", 24, 64).as_deref(), Some("203.0.113.0/24"));
        assert_eq!(masked_network("075.050.255.67", 24, 64).as_deref(), Some("75.50.255.0/24"));
        assert_eq!(masked_network("2001:db8:1:2:3:4:5:6", 24, 64).as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(masked_network("::ffff:198.51.100.9", 24, 64).as_deref(), Some("198.51.100.0/24"));
        assert_eq!(masked_network("iam.amazonaws.com", 24, 64), None);
        assert_eq!(masked_network("AWS Internal", 24, 64), None);
        assert_eq!(masked_network("1.2.3.4.5", 24, 64), None);
        assert_eq!(masked_network("10.1.2.3", 16, 64).as_deref(), Some("10.1.0.0/16"));
    }
}
