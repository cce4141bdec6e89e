//! The client's address, for throttling and security logs. Behind a trusted proxy (listed
//! in `server.trusted_proxies`) it is the right-most address of `X-Forwarded-For` that is
//! not itself a trusted proxy; from any other peer the header is ignored, so a client cannot
//! pick the address it is throttled by.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Parses `server.trusted_proxies` entries: CIDRs (`10.0.0.0/8`) or single addresses.
pub fn parse_proxies(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("server.trusted_proxies: `{e}` is not an address or CIDR"))
        })
        .collect()
}

/// The address the request comes from, as far as this service can trust it.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    // A hop that is not an address (a client may prepend anything) names nobody: it is
    // skipped, never a reason to take the proxy for the client.
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_hop)
        .collect();
    Some(forwarded.into_iter().rev().find(|a| !trusted.iter().any(|net| net.contains(a))).unwrap_or(peer))
}

/// One `X-Forwarded-For` hop: an address, or an address with a port (`[v6]:port` too).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The key an address is throttled by: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network hands out a whole /64, so counting single IPv6 addresses counts nothing).
pub fn throttle_key(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let net = ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc();
            net.to_string()
        }
        None => "unknown".to_owned(),
    }
}

/// The network an address key belongs to: an IPv4 /24, an IPv6 /48 (what one subscriber or
/// one small provider holds), for budgets that moving to a neighbouring address (or to
/// another /64 of one's own /48) does not renew.
pub fn network_key(address_key: &str) -> String {
    if let Ok(v4) = address_key.parse::<std::net::Ipv4Addr>() {
        return ipnet::Ipv4Net::new(v4, 24).expect("24 is a valid prefix").trunc().to_string();
    }
    match address_key.parse::<ipnet::Ipv6Net>() {
        Ok(v6) => ipnet::Ipv6Net::new(v6.addr(), 48).expect("48 is a valid prefix").trunc().to_string(),
        Err(_) => address_key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn req(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        if let Some(f) = forwarded {
            r = r.insert_header(("x-forwarded-for", f));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarded_for_counts_only_through_a_trusted_proxy() {
        let trusted = parse_proxies(&["10.0.0.0/8".into(), "192.0.2.7".into()]).unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&req("10.1.2.3", Some("203.0.113.5")), &trusted), ip("203.0.113.5"));
        // The client may prepend anything; the right-most untrusted hop is what the proxy saw.
        assert_eq!(client_ip(&req("10.1.2.3", Some("1.1.1.1, 203.0.113.5, 10.9.9.9")), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(&req("198.51.100.1", Some("203.0.113.5")), &trusted), ip("198.51.100.1"), "spoofed");
        // A malformed hop is skipped; only a header naming nobody leaves the proxy as the client.
        assert_eq!(client_ip(&req("10.1.2.3", Some("not an address, 203.0.113.5")), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(&req("10.1.2.3", Some("203.0.113.5, junk")), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(&req("10.1.2.3", Some("203.0.113.5:4711")), &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(&req("10.1.2.3", Some("[2001:db8::5]:443")), &trusted), ip("2001:db8::5"));
        assert_eq!(client_ip(&req("10.1.2.3", Some("not an address")), &trusted), ip("10.1.2.3"));
        assert_eq!(client_ip(&req("10.1.2.3", None), &trusted), ip("10.1.2.3"));
        assert!(parse_proxies(&["10.0.0.0/33".into()]).is_err());
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a = throttle_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = throttle_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()));
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(throttle_key(Some("::ffff:203.0.113.5".parse().unwrap())), "203.0.113.5");
        assert_eq!(throttle_key(Some("203.0.113.5".parse().unwrap())), "203.0.113.5");
    }

    #[test]
    fn networks_are_ipv4_24_and_ipv6_48() {
        assert_eq!(network_key("203.0.113.5"), "203.0.113.0/24");
        assert_eq!(network_key("2001:db8:1:2::/64"), "2001:db8:1::/48");
        assert_eq!(network_key(&throttle_key(Some("2001:db8:1:ffff::9".parse().unwrap()))), "2001:db8:1::/48");
        assert_eq!(network_key("unknown"), "unknown");
    }
}
