//! Which IP addresses are ordinary hosts on the public internet, for a service that calls out
//! to addresses an admin typed (webhooks). Every block of the IANA IPv4 and IPv6
//! Special-Purpose Address Registries (RFC 6890 and its updates, through RFC 9780) is refused,
//! with multicast and the reserved space: a webhook has no business with a discard prefix, an
//! anycast relay, a translator or a documentation block, even where the registry calls the
//! block globally reachable. Addresses that carry an IPv4 address whose position is fixed
//! (IPv4-mapped, IPv4-translated, the NAT64 well-known prefix) are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Refused IPv4 blocks: network, prefix length, why.
const REFUSED_V4: [(Ipv4Addr, u8, &str); 18] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (RFC 791)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private use (RFC 1918)"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared address space of carrier-grade NAT (RFC 6598)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (RFC 1122)"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link local, where cloud metadata services answer (RFC 3927)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private use (RFC 1918)"),
    // Holds DS-Lite, the PCP and TURN anycast addresses and NAT64 discovery (RFC 6890).
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments (RFC 6890)"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation, TEST-NET-1 (RFC 5737)"),
    (Ipv4Addr::new(192, 31, 196, 0), 24, "AS112 DNS sink (RFC 7535)"),
    (Ipv4Addr::new(192, 52, 193, 0), 24, "AMT relay anycast (RFC 7450)"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast, deprecated (RFC 7526)"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private use (RFC 1918)"),
    (Ipv4Addr::new(192, 175, 48, 0), 24, "AS112 direct delegation (RFC 7534)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation, TEST-NET-2 (RFC 5737)"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation, TEST-NET-3 (RFC 5737)"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (RFC 5771)"),
    // With the limited broadcast address 255.255.255.255 (RFC 919).
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (RFC 1112)"),
];

/// Refused IPv6 blocks. The IPv4-mapped, IPv4-translated and NAT64 well-known prefixes are
/// not here: `refusal` judges the IPv4 address inside them.
const REFUSED_V6: [(Ipv6Addr, u8, &str); 16] = [
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (RFC 4291)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (RFC 4291)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "IPv4-compatible, deprecated (RFC 4291)"),
    // Where the IPv4 address sits depends on the prefix length the operator chose inside
    // the /48 (RFC 8215, RFC 6052), so it cannot be read off and judged.
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use IPv4/IPv6 translation (RFC 8215)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only (RFC 6666)"),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "dummy prefix (RFC 9780)"),
    // Teredo (2001::/32, which wraps an IPv4 address), PCP, TURN and DNS-SD anycast,
    // benchmarking, AMT, AS112, ORCHID and DRIP.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF protocol assignments (RFC 2928)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation (RFC 3849)"),
    // A relay mechanism, deprecated; not worth judging the IPv4 address it wraps.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4, deprecated (RFC 3056, RFC 7526)"),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48, "AS112 direct delegation (RFC 7534)"),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "documentation (RFC 9637)"),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "segment routing SIDs (RFC 9602)"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local (RFC 4193)"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local (RFC 4291)"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local, deprecated (RFC 3879)"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast (RFC 4291)"),
];

/// Outside it, what no block above names is unassigned (IANA IPv6 Address Space registry).
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);
const NOT_GLOBAL_UNICAST: &str = "outside the global unicast space 2000::/3 (RFC 4291)";

/// Why `ip` is not an ordinary public host, or None when it is.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refusal_v4(v4),
            None => refusal_v6(v6),
        },
    }
}

/// A globally routable unicast address that no special-purpose block covers.
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let inside =
        |net: Ipv4Addr, len: u8| u32::from(ip) & !u32::MAX.checked_shr(len.into()).unwrap_or(0) == u32::from(net);
    REFUSED_V4.iter().find(|(net, len, _)| inside(*net, *len)).map(|(_, _, why)| *why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let inside =
        |net: Ipv6Addr, len: u8| u128::from(ip) & !u128::MAX.checked_shr(len.into()).unwrap_or(0) == u128::from(net);
    match REFUSED_V6.iter().find(|(net, len, _)| inside(*net, *len)) {
        Some((_, _, why)) => Some(why),
        None if !inside(GLOBAL_UNICAST.0, GLOBAL_UNICAST.1) => Some(NOT_GLOBAL_UNICAST),
        None => None,
    }
}

/// The IPv4 address inside an IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96)
/// or NAT64 well-known (64:ff9b::/96) address: where it is, the IPv4 address is what is reached.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let mapped = s[0..5] == [0; 5] && s[5] == 0xffff;
    let translated = s[0..4] == [0; 4] && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || translated || nat64).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        !is_public(text.parse().unwrap_or_else(|_| panic!("{text} parses")))
    }

    /// The first and last address (or a typical one) of every IPv4 block.
    #[test]
    fn every_special_purpose_ipv4_block_is_refused() {
        for text in [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.0.0",
            "169.254.169.254",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.8",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.0.170",
            "192.0.0.255",
            "192.0.2.0",
            "192.0.2.255",
            "192.31.196.0",
            "192.31.196.255",
            "192.52.193.0",
            "192.52.193.255",
            "192.88.99.0",
            "192.88.99.1",
            "192.88.99.255",
            "192.168.0.0",
            "192.168.255.255",
            "192.175.48.0",
            "192.175.48.255",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.0",
            "198.51.100.255",
            "203.0.113.0",
            "203.0.113.255",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.0",
            "254.255.255.255",
            "255.255.255.255",
        ] {
            assert!(refused(text), "{text} must be refused");
        }
    }

    /// The addresses right next to each block are ordinary hosts.
    #[test]
    fn ipv4_neighbours_of_the_blocks_are_public() {
        for text in [
            "1.0.0.0",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "191.255.255.255",
            "192.0.1.0",
            "192.0.3.0",
            "192.31.195.255",
            "192.31.197.0",
            "192.52.192.255",
            "192.52.194.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "192.175.47.255",
            "192.175.49.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert!(!refused(text), "{text} is public");
        }
    }

    #[test]
    fn every_special_purpose_ipv6_block_is_refused() {
        for text in [
            "::",
            "::1",
            "::2",
            "::a00:1",
            "::808:808",
            // Local-use NAT64, even around a public IPv4 address.
            "64:ff9b:1::",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            "100::",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            "2001::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1::1",
            "2001:1::2",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:30::1",
            "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db8::",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "2002::1",
            "2002:808:808::1",
            "2620:4f:8000::1",
            "2620:4f:8000:ffff::1",
            "3fff::1",
            "3fff:fff:ffff::1",
            "4000::1",
            "5f00::1",
            "5f00:ffff::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(refused(text), "{text} must be refused");
        }
    }

    #[test]
    fn ipv6_neighbours_of_the_blocks_are_public() {
        for text in [
            "2001:200::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "2001:4860:4860::8888",
            "2003::1",
            "2606:4700:4700::1111",
            "2620:4f:7fff::1",
            "2620:4f:8001::1",
            "3fff:1000::1",
            "3ffe:ffff::1",
        ] {
            assert!(!refused(text), "{text} is public");
        }
    }

    /// Mapped, translated and NAT64 addresses stand for the IPv4 address inside.
    #[test]
    fn embedded_ipv4_addresses_are_judged_by_that_address() {
        for (text, is_refused) in [
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:192.88.99.1", true),
            ("::ffff:8.8.8.8", false),
            ("::ffff:0:a00:1", true),
            ("::ffff:0:808:808", false),
            ("64:ff9b::a00:1", true),
            ("64:ff9b::7f00:1", true),
            ("64:ff9b::c058:6301", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", false),
        ] {
            assert_eq!(refused(text), is_refused, "{text}");
        }
    }

    #[test]
    fn a_refusal_names_its_block() {
        assert_eq!(refusal("100::7".parse().unwrap()), Some("discard-only (RFC 6666)"));
        assert_eq!(refusal("192.88.99.1".parse().unwrap()), Some("6to4 relay anycast, deprecated (RFC 7526)"));
        assert_eq!(refusal("::ffff:192.168.1.1".parse().unwrap()), Some("private use (RFC 1918)"));
        assert_eq!(refusal("4000::1".parse().unwrap()), Some(NOT_GLOBAL_UNICAST));
    }
}
