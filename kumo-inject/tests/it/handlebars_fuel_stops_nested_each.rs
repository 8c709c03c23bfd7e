//! A handlebars render has a work budget: `{{#each big}}{{#each ../big}}{{/each}}{{/each}}`
//! over a ~199 KB array (about 10^9 iterations that write nothing, some 36 CPU-seconds without
//! a budget) fails its recipient with `TemplateError::HandlebarsOutOfFuel` in a fraction of a
//! second, the other recipients are generated, and the server keeps answering meanwhile.

use crate::support::{Collect, JSON, post, serve};
use kumo_inject::{
    Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest, Injector, RecipientError,
    RouterConfig, TemplateError, router,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

const BOMB: &str = "{{#each big}}{{#each ../big}}{{/each}}{{/each}}done\n";

/// About 199 KB of JSON: 33,000 five-digit numbers.
fn big() -> Value {
    Value::Array(vec![json!(12345); 33_000])
}

fn request(recipients: Value, substitutions: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": recipients,
        "content": {"subject": "s", "text_body": BOMB},
        "substitutions": substitutions,
        "template_dialect": "Handlebars",
    }))
    .unwrap()
}

#[test]
fn nested_each_over_a_big_array_fails_its_recipient_within_the_budget() {
    let body = request(
        json!([
            {"email": "bomb@example.org", "substitutions": {"big": big()}},
            {"email": "ok@example.org", "substitutions": {"big": [1, 2, 3]}},
        ]),
        json!({}),
    );
    assert!(body.len() > 190_000, "{}", body.len());
    let req = InjectRequest::from_json(&body).unwrap();
    let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("bomb").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };

    let started = Instant::now();
    let e = batch.generate(0, &ctx).unwrap_err();
    let took = started.elapsed();
    match &e {
        RecipientError::Template {
            field,
            source: TemplateError::HandlebarsOutOfFuel { limit },
        } => {
            assert_eq!(field, "content.text_body");
            assert_eq!(*limit, GenerateOptions::default().template_fuel);
        }
        other => panic!("expected the work budget to stop the render, got {other:?}"),
    }
    assert!(
        kumo_inject::error_chain(&e).contains("work budget"),
        "{}",
        kumo_inject::error_chain(&e)
    );
    // The default budget is about 100 ms of CPU; 2 s leaves room for a slow, shared machine.
    assert!(took < Duration::from_secs(2), "the bomb took {took:?}");

    // The small array renders normally.
    let m = batch.generate(1, &ctx).unwrap();
    assert!(std::str::from_utf8(&m.data).unwrap().contains("done"));
}

#[test]
fn a_smaller_budget_fails_sooner_and_a_larger_one_lets_a_real_loop_finish() {
    let rows: Vec<Value> = (0..200)
        .map(|i| json!({"n": i, "tags": [1, 2, 3]}))
        .collect();
    let body = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "content": {"text_body": "{{#each rows}}{{n}}:{{#each tags}}{{this}}{{#if @last}};{{/if}}{{/each}}\n{{/each}}"},
        "substitutions": {"rows": rows},
        "template_dialect": "Handlebars",
    }))
    .unwrap();
    let req = InjectRequest::from_json(&body).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("rows").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let ok = Batch::compile(&req, &GenerateOptions::default()).unwrap();
    let m = ok.generate(0, &ctx).unwrap();
    assert!(
        std::str::from_utf8(&m.data)
            .unwrap()
            .contains("\r\n199:123;\r\n")
    );

    let tight = GenerateOptions {
        template_fuel: 500,
        ..GenerateOptions::default()
    };
    let small = Batch::compile(&req, &tight).unwrap();
    assert!(matches!(
        small.generate(0, &ctx),
        Err(RecipientError::Template {
            source: TemplateError::HandlebarsOutOfFuel { limit: 500 },
            ..
        })
    ));
}

#[test]
fn comparing_and_copying_big_values_in_a_loop_is_charged_too() {
    // Each iteration compares (or copies) the whole array: quadratic work without output.
    for template in [
        "{{#each big}}{{#if (eq ../big ../big)}}{{/if}}{{/each}}\n",
        "{{#each big}}{{#with (lookup ../this \"big\")}}{{/with}}{{/each}}\n",
        "{{#with (lookup this \"big\")}}{{#each ../big}}{{#if ../this}}{{/if}}{{/each}}{{/with}}\n",
    ] {
        let body = serde_json::to_vec(&json!({
            "envelope_sender": "s@example.com",
            "recipients": [{"email": "a@example.org"}],
            "content": {"text_body": template},
            "substitutions": {"big": big()},
            "template_dialect": "Handlebars",
        }))
        .unwrap();
        let req = InjectRequest::from_json(&body).unwrap();
        let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
        let ctx = GenerateContext {
            batch_id: BatchId::new("cmp").unwrap(),
            now: UNIX_EPOCH,
            peer: None,
        };
        let started = Instant::now();
        let e = batch.generate(0, &ctx).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(
                e,
                RecipientError::Template {
                    source: TemplateError::HandlebarsOutOfFuel { .. },
                    ..
                }
            ),
            "{template}: {e:?}"
        );
        assert!(took < Duration::from_secs(2), "{template} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_other_requests_while_a_bomb_is_rendered() {
    let sink = Arc::new(Collect::default());
    let injector = Injector::builder(sink.clone()).build().unwrap();
    let addr = serve(router(injector, RouterConfig::default())).await;

    // Four recipients that each carry the bomb's array (the batch's substitution).
    let bomb = request(
        json!([
            {"email": "a@example.org"}, {"email": "b@example.org"},
            {"email": "c@example.org"}, {"email": "d@example.org"},
        ]),
        json!({"big": big()}),
    );
    let started = Instant::now();
    let bomb_reply = tokio::spawn(async move { post(addr, &[JSON], &bomb).await });
    tokio::time::sleep(Duration::from_millis(20)).await;

    let small = request(json!([{"email": "x@example.org"}]), json!({"big": [1]}));
    let reply = tokio::time::timeout(Duration::from_secs(2), post(addr, &[JSON], &small))
        .await
        .expect("a small request is answered while the bomb renders");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains(r#""success_count":1"#),
        "{}",
        reply.body
    );

    let bomb_reply = tokio::time::timeout(Duration::from_secs(10), bomb_reply)
        .await
        .expect("the bomb is answered")
        .unwrap();
    let took = started.elapsed();
    assert_eq!(bomb_reply.status, 200, "{}", bomb_reply.body);
    let resp: Value = serde_json::from_str(&bomb_reply.body).unwrap();
    assert_eq!(resp["fail_count"], 4, "{resp}");
    let first = resp["errors"][0].as_str().unwrap();
    assert!(first.contains("work budget"), "{first}");
    // Four renders of about 100 ms of CPU each; generous for a slow, shared 2-core machine.
    assert!(
        took < Duration::from_secs(8),
        "the bomb batch took {took:?}"
    );
}
