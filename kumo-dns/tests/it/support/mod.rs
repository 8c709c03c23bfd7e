//! Shared test support: the `.test` zone, a loopback server serving it, and a resolver on it.
#![allow(dead_code, unreachable_pub)] // each test file uses a part of it

use kumo_dns::Fault;
#[cfg(feature = "server")]
use kumo_dns::server::LoopbackDnsServer;
#[cfg(feature = "server")]
use kumo_dns::{HickoryOptions, HickoryResolver};
#[cfg(feature = "server")]
use std::time::Duration;

/// One zone (`test.`) holding every case.
pub const ZONE: &str = "\
$ORIGIN test.
$TTL 300
@                 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 30
; MX records at two preference levels
example           MX 10 mx1.example
example           MX 10 mx2.example
example           MX 20 backup.example
mx1.example       A 192.0.2.1
mx2.example       A 192.0.2.2
mx2.example       AAAA 2001:db8::2
backup.example    A 192.0.2.9
; NODATA for MX: implicit MX on the domain itself
nodata            A 192.0.2.50
nodata            AAAA 2001:db8::50
; null MX alone, and mixed with a real host
nullmx            MX 0 .
mixednull         MX 0 .
mixednull         MX 10 mx1.example
; IDN domain (muenchen with umlaut) with an IDN MX target (mx.oebb with umlaut)
xn--mnchen-3ya    MX 10 mx.xn--bb-eka
mx.xn--bb-eka     A 192.0.2.77
; hosts that do not resolve are reported
badhosts          MX 10 mx1.example
badhosts          MX 20 nowhere
badhosts          MX 30 broken-host
broken-host       A 192.0.2.66
; single-flight
flight            MX 10 mx.flight
mx.flight         A 192.0.2.88
";

/// Names with injected faults.
pub const FAULTS: &[(&str, Fault)] = &[
    ("servfail.test", Fault::ServFail),
    ("refused.test", Fault::Refused),
    ("slow.test", Fault::Timeout),
    ("broken-host.test", Fault::ServFail),
];

#[cfg(feature = "server")]
/// Starts the loopback server with [`ZONE`] and [`FAULTS`].
pub async fn server() -> LoopbackDnsServer {
    let mut b = LoopbackDnsServer::builder().zone_text(ZONE);
    for (name, fault) in FAULTS {
        b = b.fault(name, *fault);
    }
    b.start().await.expect("loopback dns server starts")
}

#[cfg(feature = "server")]
/// A hickory resolver on the server: short timeout, one attempt, UDP only, no hickory cache.
pub fn resolver(server: &LoopbackDnsServer) -> HickoryResolver {
    server
        .resolver(
            HickoryOptions::default()
                .timeout(Duration::from_millis(250))
                .attempts(1)
                .tcp(false)
                .cache_size(0),
        )
        .expect("resolver builds")
}

/// The zone as a socket-free resolver, with the same faults.
pub fn zone_resolver() -> kumo_dns::ZoneResolver {
    let mut z = kumo_dns::ZoneResolver::from_zone_text(ZONE).expect("zone parses");
    for (name, fault) in FAULTS {
        z = z.with_fault(name, *fault);
    }
    z
}
