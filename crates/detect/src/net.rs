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
        let ip: IpAddr = source_ip.trim().parse().ok()?;
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
