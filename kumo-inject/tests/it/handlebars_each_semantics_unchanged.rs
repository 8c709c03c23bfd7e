//! The metered handlebars helpers (`each`, `with`, `lookup`, the comparisons) render exactly
//! what the `handlebars` crate's built-in helpers render: a table of templates with their
//! expected output, each also checked against an unmetered `handlebars` registry as the oracle.

use kumo_inject::handlebars::{Handlebars, no_escape};
use kumo_inject::{Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest};
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;

/// Renders `template` with `data` as the batch's substitutions, through kumo-inject (RFC 5322
/// content, so the body is the rendered text as is).
fn kumo(template: &str, data: &Value) -> String {
    let req = json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "content": format!("Subject: t\n\n{template}\n"),
        "substitutions": data,
        "template_dialect": "Handlebars",
    });
    let req = InjectRequest::from_json(&serde_json::to_vec(&req).unwrap()).unwrap();
    let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("t").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let m = batch.generate(0, &ctx).unwrap();
    let text = std::str::from_utf8(&m.data).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    body.strip_suffix("\r\n").unwrap().to_owned()
}

/// The same render by an unmetered registry set up as kumo-inject's text registry (no
/// escaping, strict mode off), with the variables kumo-inject adds.
fn oracle(template: &str, data: &Value) -> String {
    let mut r = Handlebars::new();
    r.set_strict_mode(false);
    r.register_escape_fn(no_escape);
    let mut vars = data.as_object().unwrap().clone();
    vars.insert("email".into(), "a@example.org".into());
    r.render_template(template, &Value::Object(vars)).unwrap()
}

#[test]
fn metered_helpers_render_as_the_builtins() {
    let data = json!({
        "list": [1, 2, 3],
        "empty": [],
        "words": ["a", "b"],
        "obj": {"x": 1, "y": 2},
        "people": [{"name": "Ann", "tags": ["t1", "t2"]}, {"name": "Bob", "tags": []}],
        "nested": [[1, 2], [3]],
        "title": "T",
        "n": 5,
        "s5": "5",
        "big": 9_007_199_254_740_993u64,
    });
    let table: &[(&str, &str)] = &[
        // @index, @first, @last, this
        (
            "{{#each list}}{{@index}}:{{this}}:{{@first}}:{{@last}};{{/each}}",
            "0:1:true:false;1:2:false:false;2:3:false:true;",
        ),
        // @key over an object
        (
            "{{#each obj}}{{@key}}={{this}}@{{@index}},{{/each}}",
            "x=1@0,y=2@1,",
        ),
        // the else block, for an empty and for a missing collection
        ("{{#each empty}}x{{else}}none{{/each}}", "none"),
        ("{{#each missing}}x{{else}}none{{/each}}", "none"),
        ("{{#each empty}}x{{/each}}", ""),
        ("{{#each title}}x{{else}}scalar{{/each}}", "scalar"),
        // ../ reaches the enclosing context
        ("{{#each words}}{{this}}{{../title}}{{/each}}", "aTbT"),
        // nested loops, with ../ across two levels and properties of items
        (
            "{{#each people}}{{name}}[{{#each tags}}{{this}}/{{../name}}/{{../../title}} {{else}}-{{/each}}]{{/each}}",
            "Ann[t1/Ann/T t2/Ann/T ]Bob[-]",
        ),
        (
            "{{#each nested}}({{#each this}}{{this}}{{/each}}){{/each}}",
            "(12)(3)",
        ),
        // block parameters
        ("{{#each list as |v|}}{{v}}{{/each}}", "123"),
        ("{{#each obj as |v k|}}{{k}}{{v}}{{/each}}", "x1y2"),
        ("{{#each list as |v i|}}{{i}}{{v}},{{/each}}", "01,12,23,"),
        // with, and @index seen through with
        ("{{#with people.[0]}}{{name}}{{/with}}", "Ann"),
        ("{{#with missing}}x{{else}}no{{/with}}", "no"),
        (
            "{{#each people}}{{#with this}}{{@index}}{{name}}{{/with}}{{/each}}",
            "0Ann1Bob",
        ),
        ("{{#with title as |t|}}{{t}}{{/with}}", "T"),
        // lookup, in an expression and as a subexpression
        ("{{lookup list 1}}", "2"),
        ("{{lookup obj \"y\"}}", "2"),
        ("[{{lookup list 9}}]", "[]"),
        ("{{#each list}}{{lookup ../words @index}}{{/each}}", "ab"),
        (
            "{{#each (lookup people 0)}}{{@key}};{{/each}}",
            "name;tags;",
        ),
        ("{{#with (lookup people 1)}}{{name}}{{/with}}", "Bob"),
        // a literal collection (copied, not in the context)
        ("{{#each [7, 8]}}{{this}}{{@index}}{{/each}}", "7081"),
        // comparisons: expressions, blocks with else, subexpressions in if
        (
            "{{eq n 5}} {{ne n 5}} {{gt n 4}} {{gte n 5}} {{lt n 5}} {{lte n 4}}",
            "true false true true false false",
        ),
        ("{{#eq title \"T\"}}yes{{else}}no{{/eq}}", "yes"),
        ("{{#if (gt n 10)}}big{{else}}small{{/if}}", "small"),
        ("{{gt s5 4}} {{lt 4 s5}} {{eq s5 5}}", "true true false"),
        (
            "{{gt big 9007199254740992.0}} {{eq list list}}",
            "true true",
        ),
        ("{{gt title 1}} {{lt words 1}}", "false false"),
        // `each` as a word in text is no helper call
        ("each with lookup {{title}}", "each with lookup T"),
    ];
    for (template, expected) in table {
        let got = kumo(template, &data);
        assert_eq!(got, *expected, "kumo-inject rendering {template}");
        assert_eq!(
            oracle(template, &data),
            *expected,
            "handlebars rendering {template}"
        );
    }
}

#[test]
fn html_bodies_are_escaped_through_metered_lookup() {
    let req = json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "content": {"html_body": "<p>{{lookup v 0}}{{#each v}}{{this}}{{/each}}</p>\n"},
        "substitutions": {"v": ["<b>"]},
        "template_dialect": "Handlebars",
    });
    let req = InjectRequest::from_json(&serde_json::to_vec(&req).unwrap()).unwrap();
    let batch = Batch::compile(&req, &GenerateOptions::default()).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("t").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let m = batch.generate(0, &ctx).unwrap();
    let text = std::str::from_utf8(&m.data).unwrap();
    assert!(text.contains("<p>&lt;b&gt;&lt;b&gt;</p>"), "{text}");
}
