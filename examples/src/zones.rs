//! The demo's `.test` zone set: the DNS data that the in-process server answers from.
//!
//! Every name lives under the reserved `.test` top-level domain (RFC 6761) and every address is a
//! loopback address (`127.0.0.0/8`, `::1`), so that real delivery (`--deliver smtp`) never leaves
//! the machine. A receiving SMTP server on `127.0.0.1` and `--smtp-port` gets the mail; the other
//! loopback addresses have nobody listening, so their connections are refused at once and the
//! plan moves on: for `example.test`, `mx2` (`127.0.0.11`) shares preference 10 with `mx1`
//! (`127.0.0.1`), so about half of its sessions show the fallback; `gmail.test`'s backups and
//! two of `outlook.test`'s four addresses refuse as well. Simulated delivery never connects.
//!
//! | domain | what it shows |
//! |---|---|
//! | `example.test` | two MX hosts at preference 10 and a backup at 20 |
//! | `gmail.test`, `googlemail.test` | five preference levels (5..40) on hosts shared by two domains (one provider) |
//! | `outlook.test` | one MX name with four addresses, IPv4 and IPv6 |
//! | `bücher.test` (`xn--bcher-kva.test`) | an IDN domain, stored as its A-label |
//! | `nomx.test` | no MX record: the implicit MX is the domain's own address |
//! | `nullmx.test` | a null MX (`MX 0 .`, RFC 7505): mail is refused permanently |
//! | `nxdomain.test` | not in the zone at all: NXDOMAIN, a permanent failure |

/// The zone `test.` in RFC 1035 master-file format.
pub const ZONE_TEXT: &str = "\
$ORIGIN test.
$TTL 300
@                       IN SOA  ns.test. hostmaster.test. 1 3600 600 86400 60
@                       IN NS   ns.test.
ns                      IN A    127.0.0.53

; several hosts at one preference, plus a backup
example                 IN MX   10 mx1.example.test.
example                 IN MX   10 mx2.example.test.
example                 IN MX   20 backup.example.test.
mx1.example             IN A    127.0.0.1
mx1.example             IN AAAA ::1
mx2.example             IN A    127.0.0.11
backup.example          IN A    127.0.0.1

; a large provider: five preference levels, hosts shared by two domains
gmail                   IN MX   5  gmail-smtp-in.l.google.test.
gmail                   IN MX   10 alt1.gmail-smtp-in.l.google.test.
gmail                   IN MX   20 alt2.gmail-smtp-in.l.google.test.
gmail                   IN MX   30 alt3.gmail-smtp-in.l.google.test.
gmail                   IN MX   40 alt4.gmail-smtp-in.l.google.test.
googlemail              IN MX   5  gmail-smtp-in.l.google.test.
googlemail              IN MX   10 alt1.gmail-smtp-in.l.google.test.
gmail-smtp-in.l.google  IN A    127.0.0.1
gmail-smtp-in.l.google  IN AAAA ::1
alt1.gmail-smtp-in.l.google IN A 127.0.0.27
alt2.gmail-smtp-in.l.google IN A 127.0.0.28
alt3.gmail-smtp-in.l.google IN A 127.0.0.29
alt4.gmail-smtp-in.l.google IN A 127.0.0.30

; one MX name with several addresses
outlook                 IN MX   0  outlook-test.mail.protection.outlook.test.
outlook-test.mail.protection.outlook IN A    127.0.0.40
outlook-test.mail.protection.outlook IN A    127.0.0.41
outlook-test.mail.protection.outlook IN A    127.0.0.1
outlook-test.mail.protection.outlook IN AAAA ::1

; an IDN domain: bücher.test
xn--bcher-kva           IN MX   10 mx.xn--bcher-kva.test.
mx.xn--bcher-kva        IN A    127.0.0.1

; no MX: the implicit MX is the domain itself
nomx                    IN A    127.0.0.1

; a null MX: this domain accepts no mail
nullmx                  IN MX   0 .
nullmx                  IN A    127.0.0.90
";

/// What the resolver should conclude about a demo domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// MX records exist: mail can be delivered (subject to the simulated answers).
    Deliverable,
    /// No MX: the domain's own address is the implicit MX; still deliverable.
    ImplicitMx,
    /// A null MX: every message bounces (556 5.1.10).
    NullMx,
    /// The domain does not exist: every message bounces.
    NxDomain,
}

/// One recipient domain of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoDomain {
    /// The domain as a user writes it (Unicode for the IDN domain).
    pub display: &'static str,
    /// The domain as stored and queried: lowercase A-labels.
    pub ascii: &'static str,
    /// What delivery to it should end in.
    pub expect: Expect,
    /// Relative share of the self test's recipients.
    pub weight: u32,
}

/// The recipient domains, with the share of self-test traffic each receives.
pub const DOMAINS: &[DemoDomain] = &[
    DemoDomain {
        display: "example.test",
        ascii: "example.test",
        expect: Expect::Deliverable,
        weight: 30,
    },
    DemoDomain {
        display: "gmail.test",
        ascii: "gmail.test",
        expect: Expect::Deliverable,
        weight: 25,
    },
    DemoDomain {
        display: "googlemail.test",
        ascii: "googlemail.test",
        expect: Expect::Deliverable,
        weight: 5,
    },
    DemoDomain {
        display: "outlook.test",
        ascii: "outlook.test",
        expect: Expect::Deliverable,
        weight: 20,
    },
    DemoDomain {
        display: "bücher.test",
        ascii: "xn--bcher-kva.test",
        expect: Expect::Deliverable,
        weight: 10,
    },
    DemoDomain {
        display: "nomx.test",
        ascii: "nomx.test",
        expect: Expect::ImplicitMx,
        weight: 5,
    },
    DemoDomain {
        display: "nullmx.test",
        ascii: "nullmx.test",
        expect: Expect::NullMx,
        weight: 3,
    },
    DemoDomain {
        display: "nxdomain.test",
        ascii: "nxdomain.test",
        expect: Expect::NxDomain,
        weight: 2,
    },
];

/// The domain of the `i`-th self-test recipient: a deterministic spread following the weights.
pub fn domain_for(i: u64) -> &'static DemoDomain {
    let total: u64 = DOMAINS.iter().map(|d| u64::from(d.weight)).sum();
    // A multiplicative hash spreads consecutive indexes over the weight range.
    let mut pick = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    pick %= total;
    for d in DOMAINS {
        let w = u64::from(d.weight);
        if pick < w {
            return d;
        }
        pick -= w;
    }
    &DOMAINS[0]
}

/// The "provider" of an MX host name, for per-provider summaries: its last two labels
/// (`alt1.gmail-smtp-in.l.google.test` → `google.test`).
pub fn provider_of(mx_host: &str) -> &str {
    let host = mx_host.trim_end_matches('.');
    let mut dots = host.rmatch_indices('.');
    dots.next();
    match dots.next() {
        Some((i, _)) => &host[i + 1..],
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_last_two_labels() {
        assert_eq!(
            provider_of("alt1.gmail-smtp-in.l.google.test."),
            "google.test"
        );
        assert_eq!(provider_of("nomx.test"), "nomx.test");
        assert_eq!(provider_of("localhost"), "localhost");
    }

    #[test]
    fn spread_follows_weights() {
        let mut counts = std::collections::HashMap::new();
        for i in 0..100_000 {
            *counts.entry(domain_for(i).ascii).or_insert(0u32) += 1;
        }
        for d in DOMAINS {
            let share = f64::from(counts[d.ascii]) / 1000.0;
            assert!(
                (share - f64::from(d.weight)).abs() < 1.5,
                "{} got {share}%",
                d.ascii
            );
        }
    }

    #[test]
    fn kumo_dns_classifies_every_domain_as_expected() {
        use kumo_dns::{MailExchanger, MxError, MxSource, ZoneResolver};
        let zone = ZoneResolver::from_zone_text(ZONE_TEXT).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            for d in DOMAINS {
                let r = MailExchanger::resolve(&zone, d.display).await;
                match (d.expect, &r) {
                    (Expect::Deliverable, Ok(mx)) => {
                        assert_eq!(mx.source(), MxSource::Mx, "{}", d.ascii)
                    }
                    (Expect::ImplicitMx, Ok(mx)) => {
                        assert_eq!(mx.source(), MxSource::ImplicitMx, "{}", d.ascii)
                    }
                    (Expect::NullMx, Err(MxError::NullMx { .. })) => {}
                    (Expect::NxDomain, Err(MxError::NoSuchDomain { .. })) => {}
                    _ => panic!("{}: {r:?}", d.ascii),
                }
            }
            let gmail = MailExchanger::resolve(&zone, "gmail.test").await.unwrap();
            let mut levels: Vec<u16> = gmail.hosts().iter().map(|h| h.preference()).collect();
            levels.dedup();
            assert_eq!(levels, [5, 10, 20, 30, 40]);
            let outlook = MailExchanger::resolve(&zone, "outlook.test").await.unwrap();
            assert_eq!(outlook.hosts()[0].addresses().len(), 4);
        });
    }

    #[test]
    fn ascii_forms_are_the_idna_a_labels() {
        for d in DOMAINS {
            assert_eq!(idna::domain_to_ascii(d.display).unwrap(), d.ascii);
        }
    }

    #[test]
    fn zone_mentions_every_domain_but_nxdomain() {
        for d in DOMAINS {
            let label = d.ascii.trim_end_matches(".test");
            let present = ZONE_TEXT
                .lines()
                .any(|l| l.split_whitespace().next() == Some(label));
            assert_eq!(present, d.expect != Expect::NxDomain, "{}", d.ascii);
        }
    }
}
