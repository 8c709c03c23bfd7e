//! Statistical tests of the shuffle with fixed seeds: deterministic, so they cannot flake, and
//! strict (alpha = 1e-6) critical values so a biased shuffle fails them (see the control test).

use kumo_dns::{MailExchanger, MxHost, PlanPolicy, ShuffleMode, plan};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

fn one_level(addresses_per_host: &[u8]) -> MailExchanger {
    let hosts = addresses_per_host
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let addrs = (0..n)
                .map(|j| IpAddr::V4(Ipv4Addr::new(10, i as u8, j, 1)))
                .collect();
            MxHost::new(&format!("h{i:02}.test"), 10, addrs).unwrap()
        })
        .collect();
    MailExchanger::from_hosts("s.test", hosts).unwrap()
}

/// Upper critical value of chi-square with `df` degrees of freedom at alpha = 1e-6
/// (Wilson-Hilferty; z = 4.7534).
fn chi2_critical(df: f64) -> f64 {
    let z = 4.7534;
    let a = 2.0 / (9.0 * df);
    df * (1.0 - a + z * a.sqrt()).powi(3)
}

fn chi2(counts: &HashMap<Vec<usize>, u64>, cells: usize, n: u64) -> f64 {
    let expected = n as f64 / cells as f64;
    let mut stat: f64 = counts
        .values()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    stat += (cells - counts.len()) as f64 * expected; // unseen cells
    stat
}

fn factorial(k: usize) -> usize {
    (1..=k).product()
}

fn host_orders(k: usize, n: u64, seed: u64, mode: ShuffleMode) -> HashMap<Vec<usize>, u64> {
    let mx = one_level(&vec![1; k]);
    let policy = PlanPolicy::default().shuffle(mode);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut counts = HashMap::new();
    for _ in 0..n {
        let p = plan(&mx, &policy, &mut rng);
        let order: Vec<usize> = p.iter().map(|a| a.host_index()).collect();
        *counts.entry(order).or_insert(0) += 1;
    }
    counts
}

#[test]
fn every_order_of_3_to_5_hosts_is_equally_likely() {
    for k in 3..=5 {
        let cells = factorial(k);
        let n = (cells as u64 * 1000).max(100_000);
        let counts = host_orders(k, n, 0x5eed_0000 + k as u64, ShuffleMode::Host);
        assert_eq!(counts.len(), cells, "all {cells} orders of {k} hosts occur");
        let stat = chi2(&counts, cells, n);
        let crit = chi2_critical((cells - 1) as f64);
        assert!(stat < crit, "k={k}: chi2 {stat:.1} >= {crit:.1}");
    }
}

#[test]
fn the_chi_square_test_rejects_a_biased_shuffle() {
    // Control: the classic wrong shuffle (swap with any position) is biased; the same test
    // must reject it, or the test above proves nothing.
    let k = 4;
    let n = 100_000u64;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut counts: HashMap<Vec<usize>, u64> = HashMap::new();
    for _ in 0..n {
        let mut v: Vec<usize> = (0..k).collect();
        for i in 0..k {
            let j = rng.random_range(0..k);
            v.swap(i, j);
        }
        *counts.entry(v).or_insert(0) += 1;
    }
    let stat = chi2(&counts, factorial(k), n);
    assert!(
        stat > chi2_critical((factorial(k) - 1) as f64),
        "chi2 {stat:.1}"
    );
}

#[test]
fn each_of_16_hosts_is_first_equally_often() {
    let mx = one_level(&[1; 16]);
    let policy = PlanPolicy::default();
    let mut rng = SmallRng::seed_from_u64(16);
    let n = 160_000u64;
    let mut first = [0u64; 16];
    for _ in 0..n {
        first[plan(&mx, &policy, &mut rng).get(0).unwrap().host_index()] += 1;
    }
    let expected = n as f64 / 16.0;
    let stat: f64 = first
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        stat < chi2_critical(15.0),
        "chi2 {stat:.1}, counts {first:?}"
    );
}

fn p_three_address_host_first(mode: ShuffleMode) -> f64 {
    let mx = one_level(&[3, 1]);
    let policy = PlanPolicy::default().shuffle(mode);
    let mut rng = SmallRng::seed_from_u64(31);
    let n = 100_000;
    let first = (0..n)
        .filter(|_| plan(&mx, &policy, &mut rng).get(0).unwrap().host_index() == 0)
        .count();
    first as f64 / n as f64
}

#[test]
fn host_mode_gives_a_three_address_host_first_place_half_the_time() {
    let p = p_three_address_host_first(ShuffleMode::Host);
    // sd = sqrt(0.25 / 1e5) = 0.0016; 0.01 is > 6 sd.
    assert!((p - 0.5).abs() < 0.01, "{p}");
}

#[test]
fn address_weighted_mode_gives_it_three_quarters() {
    let p = p_three_address_host_first(ShuffleMode::AddressWeighted);
    assert!((p - 0.75).abs() < 0.01, "{p}");
}
