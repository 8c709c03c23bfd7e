//! The `/metrics.json` output, byte for byte: no labels, one label, several labels with `"@"`,
//! histograms, `null` for an empty family, escaping, `null` for non-finite numbers.

use kumo_metrics::{Registry, ScrapeOptions};

kumo_metrics::label_set! { struct Queue { queue } }
kumo_metrics::label_set! { struct ProviderPool { provider, pool } }
kumo_metrics::label_set! { struct Event { event } }

#[test]
fn json_matches_the_shape_exactly() {
    let r = Registry::new();
    r.family("lua_count", "the number of lua contexts")
        .gauge::<()>()
        .unwrap()
        .get_or_create(&())
        .set(1);
    let lat = r
        .family("lua_event_latency", "")
        .histogram::<Event<'static>>(&[0.5, 1.0])
        .unwrap()
        .get_or_create(&Event { event: "init" });
    lat.observe(0.25);
    lat.observe(0.75);
    lat.observe(4.0);
    let sched = r
        .family("scheduled_count", "number of \"messages\"\n")
        .gauge::<Queue<'static>>()
        .unwrap();
    sched
        .get_or_create(&Queue {
            queue: "example.com",
        })
        .set(0);
    sched
        .get_or_create(&Queue {
            queue: "t1:c\"1\\@x",
        })
        .set(-3);
    let by = r
        .family("queued_by_provider_and_pool", "")
        .counter::<ProviderPool<'static>>()
        .unwrap();
    by.get_or_create(&ProviderPool {
        provider: "gmail",
        pool: "default",
    })
    .inc_by(3);
    by.get_or_create(&ProviderPool {
        provider: "y\u{1}",
        pool: "p",
    })
    .inc();
    r.family("total_messages_fail", "x")
        .counter::<Queue<'static>>()
        .unwrap();
    r.family("nan", "")
        .float_gauge::<Queue<'static>>()
        .unwrap()
        .get_or_create(&Queue { queue: "q" })
        .set(f64::NAN);

    let json: Vec<u8> = r
        .scrape(&ScrapeOptions::json().chunk_size(3))
        .flatten()
        .collect();
    let want = concat!(
        r#"{"lua_count":{"help":"the number of lua contexts","type":"gauge","value":1},"#,
        "\n",
        r#""lua_event_latency":{"type":"histogram","value":{"event":{"init":{"count":3,"sum":5,"avg":1.6666666666666667,"bucket":[[0.5,1],[1,2]]}}}},"#,
        "\n",
        r#""scheduled_count":{"help":"number of \"messages\"\n","type":"gauge","value":{"queue":{"example.com":0,"t1:c\"1\\@x":-3}}},"#,
        "\n",
        r#""queued_by_provider_and_pool":{"type":"counter","value":[{"provider":"gmail","pool":"default","@":3},{"provider":"y\u0001","pool":"p","@":1}]},"#,
        "\n",
        r#""total_messages_fail":{"help":"x","type":"counter","value":null},"#,
        "\n",
        r#""nan":{"type":"gauge","value":{"queue":{"q":null}}}}"#,
        "\n",
    );
    assert_eq!(String::from_utf8(json.clone()).unwrap(), want);
    serde_json::from_slice::<serde_json::Value>(&json).unwrap();
}

#[test]
fn empty_registry_is_an_empty_object() {
    let json: Vec<u8> = Registry::new()
        .scrape(&ScrapeOptions::json())
        .flatten()
        .collect();
    assert_eq!(json, b"{}\n");
}
