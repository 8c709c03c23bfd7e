//! Property tests of the planner against simple oracles.

use kumo_dns::{FamilyPolicy, MailExchanger, MxHost, PlanPolicy, ShuffleMode, plan_seeded};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn arb_mx() -> impl Strategy<Value = MailExchanger> {
    // up to 10 hosts, preferences from a small set, 0..4 addresses each (v4 or v6)
    prop::collection::vec((0u16..4, prop::collection::vec(any::<bool>(), 0..4)), 1..10).prop_map(
        |hosts| {
            let hosts = hosts
                .into_iter()
                .enumerate()
                .map(|(i, (pref, fams))| {
                    let addrs = fams
                        .iter()
                        .enumerate()
                        .map(|(j, v4)| {
                            if *v4 {
                                IpAddr::V4(Ipv4Addr::new(10, i as u8, j as u8, 1))
                            } else {
                                IpAddr::V6(Ipv6Addr::new(
                                    0x2001, 0xdb8, i as u16, j as u16, 0, 0, 0, 1,
                                ))
                            }
                        })
                        .collect();
                    MxHost::new(&format!("h{i}.p.test"), pref * 10, addrs).unwrap()
                })
                .collect();
            MailExchanger::from_hosts("p.test", hosts).unwrap()
        },
    )
}

fn arb_policy() -> impl Strategy<Value = PlanPolicy> {
    (
        prop_oneof![
            Just(ShuffleMode::Host),
            Just(ShuffleMode::AddressWeighted),
            Just(ShuffleMode::None)
        ],
        prop_oneof![
            Just(FamilyPolicy::Both),
            Just(FamilyPolicy::V4Only),
            Just(FamilyPolicy::V6Only),
            Just(FamilyPolicy::V4First),
            Just(FamilyPolicy::V6First),
            Just(FamilyPolicy::Interleaved)
        ],
        prop::option::of(0usize..12),
        prop::option::of(0usize..6),
        any::<bool>(),
    )
        .prop_map(|(s, f, ma, mh, every)| {
            let mut p = PlanPolicy::default()
                .shuffle(s)
                .family(f)
                .every_level(every);
            if let Some(n) = ma {
                p = p.max_addresses(n);
            }
            if let Some(n) = mh {
                p = p.max_hosts(n);
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn preference_order_is_never_violated(mx in arb_mx(), policy in arb_policy(), seed in any::<u64>()) {
        let p = plan_seeded(&mx, &policy, seed);
        let prefs: Vec<u16> = p.iter().map(|a| a.preference()).collect();
        prop_assert!(prefs.windows(2).all(|w| w[0] <= w[1]), "{prefs:?}");
        // Every attempt is a real address of its host, at most once.
        let mut seen = HashSet::new();
        for a in &p {
            let h = &mx.hosts()[a.host_index()];
            prop_assert_eq!(h.preference(), a.preference());
            prop_assert!(h.addresses().contains(&a.addr().ip()));
            prop_assert!(seen.insert(a.addr()));
        }
    }

    #[test]
    fn without_limits_every_allowed_address_is_planned(mx in arb_mx(), seed in any::<u64>()) {
        let p = plan_seeded(&mx, &PlanPolicy::default(), seed);
        let want: HashSet<SocketAddr> = mx.hosts().iter().flat_map(|h| h.addresses().iter().map(|ip| SocketAddr::new(*ip, 25))).collect();
        let got: HashSet<SocketAddr> = p.addrs().collect();
        prop_assert_eq!(p.len(), mx.address_count());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn limits_hold_and_every_level_keeps_one(mx in arb_mx(), policy in arb_policy(), seed in any::<u64>()) {
        let p = plan_seeded(&mx, &policy, seed);
        let mut free = policy.clone();
        free.max_addresses = None;
        free.max_hosts = None;
        let unlimited = plan_seeded(&mx, &free, seed);
        let levels_with_addrs: HashSet<u16> = unlimited.iter().map(|a| a.preference()).collect();
        let mut per_level: HashMap<u16, usize> = HashMap::new();
        for a in &p { *per_level.entry(a.preference()).or_default() += 1; }
        // Walk the levels: once a limit is reached, a level may add only its single forced
        // attempt (a new host counts once), and only when every_level is set.
        let (mut addrs, mut hosts) = (0usize, HashSet::new());
        let mut level_prefs: Vec<u16> = per_level.keys().copied().collect();
        level_prefs.sort();
        for pref in level_prefs {
            let attempts: Vec<_> = p.iter().filter(|a| a.preference() == pref).collect();
            let over_a = policy.max_addresses.is_some_and(|m| addrs >= m);
            let over_h = policy.max_hosts.is_some_and(|m| hosts.len() >= m);
            let new_hosts: HashSet<usize> = attempts.iter().map(|a| a.host_index()).filter(|h| !hosts.contains(h)).collect();
            if over_a {
                prop_assert!(policy.every_level && attempts.len() == 1);
            }
            if over_h {
                prop_assert!(policy.every_level && new_hosts.len() == 1);
            }
            addrs += attempts.len();
            hosts.extend(new_hosts);
            if !policy.every_level {
                if let Some(m) = policy.max_addresses { prop_assert!(addrs <= m); }
                if let Some(m) = policy.max_hosts { prop_assert!(hosts.len() <= m); }
            }
        }
        if policy.every_level {
            let got: HashSet<u16> = per_level.keys().copied().collect();
            prop_assert_eq!(got, levels_with_addrs);
        }
        // A limited plan is a subsequence of the unlimited one with the same seed... of the
        // same level content at least: every planned address is in the unlimited plan.
        let all: HashSet<SocketAddr> = unlimited.addrs().collect();
        prop_assert!(p.addrs().all(|a| all.contains(&a)));
    }

    #[test]
    fn same_seed_same_plan(mx in arb_mx(), policy in arb_policy(), seed in any::<u64>()) {
        prop_assert_eq!(plan_seeded(&mx, &policy, seed), plan_seeded(&mx, &policy, seed));
    }

    #[test]
    fn names_are_lowercase_a_labels(label in "[a-zA-Z0-9]{1,10}", uni in "[a-zäöüßéñ]{1,8}") {
        for input in [format!("{label}.{uni}.test"), format!("{}.{}.TEST.", label.to_uppercase(), uni)] {
            // Every generated name is valid: the assertions below run in every case, never
            // behind an `Ok` that might not come.
            let n = kumo_dns::normalize_host(&input);
            prop_assert!(n.is_ok(), "{input:?} was refused: {n:?}");
            let n = n.unwrap();
            prop_assert!(n.is_ascii(), "{n}");
            prop_assert_eq!(n.to_ascii_lowercase(), n.clone());
            prop_assert!(!n.ends_with('.'));
            // Idempotent: an A-label normalizes to itself.
            prop_assert_eq!(kumo_dns::normalize_host(&n).unwrap(), n.clone());
            let h = MxHost::new(&input, 10, vec![]).unwrap();
            prop_assert_eq!(h.name(), n.as_str());
        }
    }

    #[test]
    fn destination_parser_never_panics(s in "\\PC{0,40}") {
        let _ = kumo_dns::Destination::parse(&s);
        let _ = kumo_dns::normalize_host(&s);
    }
}
