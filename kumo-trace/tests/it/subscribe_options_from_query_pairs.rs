//! `SubscribeOptions::from_query_pairs`: what an HTTP trace endpoint accepts, and that bad
//! requests are refused with the offending key named.

use kumo_trace::{OptionsError, Side, SubscribeOptions};

#[test]
fn every_key_maps_to_its_option() {
    let o = SubscribeOptions::from_query_pairs([
        ("terse", "true"),
        ("only_new", ""),
        ("only_one", "no"),
        ("capacity", "64"),
        ("side", "client"),
        ("peer", "10.0.0.0/8"),
        ("peer", "2001:db8::/32"),
        ("local", "198.51.100.7"),
        ("domain", "example.com"),
        ("domain", "example.org"),
        ("queue", "q1"),
        ("label.custom", "v"),
    ])
    .unwrap();
    assert!(o.terse && o.only_new && !o.only_one);
    assert_eq!(o.capacity, 64);
    assert_eq!(o.filter.side, Some(Side::Client));
    assert_eq!(o.filter.peer.len(), 2);
    assert_eq!(o.filter.local[0].to_string(), "198.51.100.7/32");
    assert_eq!(o.filter.labels["domain"], ["example.com", "example.org"]);
    assert_eq!(o.filter.labels["queue"], ["q1"]);
    assert_eq!(o.filter.labels["custom"], ["v"]);
    assert_eq!(
        SubscribeOptions::from_query_pairs(Vec::<(String, String)>::new()).unwrap(),
        SubscribeOptions::default()
    );
}

#[test]
fn bad_requests_name_the_key() {
    let err = |k: &str, v: &str| SubscribeOptions::from_query_pairs([(k, v)]).unwrap_err();
    assert_eq!(
        err("verbose", "1"),
        OptionsError::UnknownKey("verbose".into())
    );
    assert_eq!(
        err("label.", "x"),
        OptionsError::UnknownKey("label.".into())
    );
    assert_eq!(
        err("terse", "maybe"),
        OptionsError::InvalidValue {
            key: "terse".into()
        }
    );
    assert_eq!(
        err("capacity", "0"),
        OptionsError::InvalidValue {
            key: "capacity".into()
        }
    );
    assert_eq!(
        err("side", "both"),
        OptionsError::InvalidValue { key: "side".into() }
    );
    let e = err("peer", "10.0.0.0/40");
    assert!(matches!(&e, OptionsError::InvalidNetwork { key, .. } if key == "peer"));
    assert_eq!(e.to_string(), "invalid network for trace option \"peer\"");
    assert!(std::error::Error::source(&e).is_some());
}
