//! `Cidr::contains` against a bit-prefix oracle, for IPv4, IPv6 and IPv4-mapped peers; parse
//! and display round-trip.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use kumo_trace::Cidr;
use proptest::prelude::*;

fn same_prefix_v4(a: u32, b: u32, p: u8) -> bool {
    p == 0 || (a ^ b) >> (32 - u32::from(p)) == 0
}

fn same_prefix_v6(a: u128, b: u128, p: u8) -> bool {
    p == 0 || (a ^ b) >> (128 - u32::from(p)) == 0
}

proptest! {
    #[test]
    fn v4(net in any::<u32>(), ip in any::<u32>(), p in 0u8..=32, flip in 0u32..32) {
        let c = Cidr::new(IpAddr::V4(Ipv4Addr::from(net)), p).unwrap();
        // Also try an address that shares many bits with the network.
        for ip in [ip, net ^ (1 << flip)] {
            let want = same_prefix_v4(net, ip, p);
            prop_assert_eq!(c.contains(IpAddr::V4(Ipv4Addr::from(ip))), want);
            let mapped = Ipv4Addr::from(ip).to_ipv6_mapped();
            prop_assert_eq!(c.contains(IpAddr::V6(mapped)), want);
        }
        prop_assert_eq!(c.to_string().parse::<Cidr>().unwrap(), c);
    }

    #[test]
    fn v6(net in any::<u128>(), ip in any::<u128>(), p in 0u8..=128, flip in 0u32..128) {
        let c = Cidr::new(IpAddr::V6(Ipv6Addr::from(net)), p).unwrap();
        for ip in [ip, net ^ (1 << flip)] {
            let addr = Ipv6Addr::from(ip);
            if addr.to_ipv4_mapped().is_some() {
                continue; // judged as IPv4
            }
            prop_assert_eq!(c.contains(IpAddr::V6(addr)), same_prefix_v6(net, ip, p));
        }
        prop_assert_eq!(c.to_string().parse::<Cidr>().unwrap(), c);
    }

    #[test]
    fn parsing_any_text_never_panics(s in "\\PC{0,50}") {
        let _ = s.parse::<Cidr>();
    }
}
