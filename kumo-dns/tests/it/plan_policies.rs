//! Address-family policies, limits, MX lists and seeds.

use kumo_dns::{
    FamilyPolicy, MailExchanger, MxHost, PlanPolicy, ResolveOptions, ShuffleMode, ZoneResolver,
    plan_seeded,
};
use std::net::SocketAddr;

fn mx() -> MailExchanger {
    let h = |n: &str, p: u16, a: &[&str]| {
        MxHost::new(n, p, a.iter().map(|s| s.parse().unwrap()).collect()).unwrap()
    };
    MailExchanger::from_hosts(
        "f.test",
        vec![
            h("a.f.test", 10, &["192.0.2.1", "2001:db8::1"]),
            h("b.f.test", 10, &["192.0.2.2", "192.0.2.3", "2001:db8::2"]),
            h("c.f.test", 20, &["2001:db8::3"]),
            h("d.f.test", 30, &["192.0.2.4"]),
        ],
    )
    .unwrap()
}

fn prefs(p: &kumo_dns::ConnectionPlan<'_>) -> Vec<u16> {
    p.iter().map(|a| a.preference()).collect()
}

#[test]
fn v4_only_and_v6_only_filter() {
    let m = mx();
    for seed in 0..20 {
        let v4 = plan_seeded(
            &m,
            &PlanPolicy::default().family(FamilyPolicy::V4Only),
            seed,
        );
        assert_eq!(v4.len(), 4);
        assert!(v4.addrs().all(|a| a.is_ipv4()));
        let v6 = plan_seeded(
            &m,
            &PlanPolicy::default().family(FamilyPolicy::V6Only),
            seed,
        );
        assert_eq!(v6.len(), 3);
        assert!(v6.addrs().all(|a| a.is_ipv6()));
    }
}

#[test]
fn family_first_orders_within_each_level() {
    let m = mx();
    for seed in 0..20 {
        let p = plan_seeded(
            &m,
            &PlanPolicy::default().family(FamilyPolicy::V4First),
            seed,
        );
        let fams: Vec<(u16, bool)> = p
            .iter()
            .map(|a| (a.preference(), a.addr().is_ipv4()))
            .collect();
        assert_eq!(
            &fams[..5],
            [(10, true), (10, true), (10, true), (10, false), (10, false)]
        );
        let p = plan_seeded(
            &m,
            &PlanPolicy::default().family(FamilyPolicy::V6First),
            seed,
        );
        assert!(p.get(0).unwrap().addr().is_ipv6() && p.get(1).unwrap().addr().is_ipv6());
        assert_eq!(prefs(&p), [10, 10, 10, 10, 10, 20, 30]);
    }
}

#[test]
fn interleaved_alternates_families() {
    let m = mx();
    for seed in 0..50 {
        let p = plan_seeded(
            &m,
            &PlanPolicy::default().family(FamilyPolicy::Interleaved),
            seed,
        );
        let level: Vec<bool> = p.iter().take(5).map(|a| a.addr().is_ipv4()).collect();
        // 3 v4 and 2 v6 at preference 10: alternate as long as both remain.
        for w in level.windows(2).take(3) {
            if level.iter().filter(|&&x| x == w[0]).count() > 0 {
                assert!(w[0] != w[1] || level[0] && w[0], "{level:?}");
            }
        }
        assert!(level[0] != level[1] && level[1] != level[2], "{level:?}");
    }
}

#[test]
fn address_limit_cuts_the_plan_and_every_level_keeps_one() {
    let m = mx();
    let p = plan_seeded(&m, &PlanPolicy::default().max_addresses(3), 1);
    assert_eq!(prefs(&p), [10, 10, 10]);
    let p = plan_seeded(
        &m,
        &PlanPolicy::default().max_addresses(3).every_level(true),
        1,
    );
    assert_eq!(prefs(&p), [10, 10, 10, 20, 30]);
    let p = plan_seeded(
        &m,
        &PlanPolicy::default().max_addresses(0).every_level(true),
        1,
    );
    assert_eq!(prefs(&p), [10, 20, 30]);
}

#[test]
fn host_limit_counts_distinct_hosts() {
    let m = mx();
    for seed in 0..20 {
        let p = plan_seeded(&m, &PlanPolicy::default().max_hosts(1), seed);
        let hosts: std::collections::HashSet<usize> = p.iter().map(|a| a.host_index()).collect();
        assert_eq!(hosts.len(), 1);
        assert!(
            p.len() == 2 || p.len() == 3,
            "all addresses of the one host"
        );
        let p = plan_seeded(
            &m,
            &PlanPolicy::default().max_hosts(2).every_level(true),
            seed,
        );
        assert_eq!(*prefs(&p).last().unwrap(), 30);
        let hosts: std::collections::HashSet<usize> = p.iter().map(|a| a.host_index()).collect();
        assert_eq!(
            hosts.len(),
            4,
            "two by the limit, one forced per remaining level"
        );
    }
}

#[test]
fn no_shuffle_keeps_name_order_and_the_same_seed_gives_the_same_plan() {
    let m = mx();
    let p = plan_seeded(&m, &PlanPolicy::default().shuffle(ShuffleMode::None), 1);
    let q = plan_seeded(&m, &PlanPolicy::default().shuffle(ShuffleMode::None), 2);
    assert_eq!(p, q);
    assert_eq!(
        p.get(0).unwrap().addr(),
        "192.0.2.1:25".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        plan_seeded(&m, &PlanPolicy::default(), 42),
        plan_seeded(&m, &PlanPolicy::default(), 42)
    );
    let distinct: std::collections::HashSet<Vec<SocketAddr>> = (0..50)
        .map(|s| plan_seeded(&m, &PlanPolicy::default(), s).addrs().collect())
        .collect();
    assert!(distinct.len() > 5, "different seeds give different plans");
}

#[tokio::test]
async fn mx_list_is_kept_in_the_given_order() {
    let zone = ZoneResolver::from_zone_text(
        "$ORIGIN relay.test.\nz A 192.0.2.26\nz A 192.0.2.27\na A 192.0.2.1\nm AAAA 2001:db8::13\n",
    )
    .unwrap();
    let list = [
        "z.relay.test",
        "[192.0.2.200]:2525",
        "A.relay.test:587",
        "m.relay.test",
        "gone.relay.test",
    ];
    let mx = MailExchanger::resolve_mx_list(&zone, &list, &ResolveOptions::default())
        .await
        .unwrap();
    assert_eq!(mx.source(), kumo_dns::MxSource::MxList);
    assert_eq!(mx.unusable_hosts().count(), 1);
    for seed in 0..20 {
        let p = plan_seeded(&mx, &PlanPolicy::default(), seed);
        let got: Vec<String> = p.addrs().map(|a| a.to_string()).collect();
        assert_eq!(
            got,
            [
                "192.0.2.26:25",
                "192.0.2.27:25",
                "192.0.2.200:2525",
                "192.0.2.1:587",
                "[2001:db8::13]:25"
            ]
        );
    }
}
