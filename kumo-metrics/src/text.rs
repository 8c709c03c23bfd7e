//! The Prometheus text (0.0.4) and OpenMetrics 1.0 family and series writers.

use crate::escape;
use crate::family::{FamilyCore, MetricType, ValueKind};
use crate::labels::for_each_key_value;
use bytes::{BufMut, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};

/// The name written in HELP/TYPE lines: OpenMetrics counters drop a `_total` suffix.
fn family_name(core: &FamilyCore, om: bool) -> &str {
    if om && core.metric_type == MetricType::Counter {
        core.name.strip_suffix("_total").unwrap_or(&core.name)
    } else {
        &core.name
    }
}

pub(crate) fn begin(buf: &mut BytesMut, core: &FamilyCore, prefix: &str, om: bool) {
    let name = family_name(core, om);
    if !core.help.is_empty() {
        buf.put_slice(b"# HELP ");
        buf.put_slice(prefix.as_bytes());
        buf.put_slice(name.as_bytes());
        buf.put_u8(b' ');
        escape::help(buf, &core.help, om);
        buf.put_u8(b'\n');
    }
    buf.put_slice(b"# TYPE ");
    buf.put_slice(prefix.as_bytes());
    buf.put_slice(name.as_bytes());
    buf.put_u8(b' ');
    buf.put_slice(core.metric_type.as_str().as_bytes());
    buf.put_u8(b'\n');
}

/// Writes `{l1="v1",l2="v2"` (no closing brace) or nothing when there are no labels.
fn labels(buf: &mut BytesMut, core: &FamilyCore, key: &[u8]) {
    let mut i = 0;
    for_each_key_value(key, |v| {
        buf.put_u8(if i == 0 { b'{' } else { b',' });
        buf.put_slice(core.label_names[i].as_bytes());
        buf.put_slice(b"=\"");
        escape::label_value(buf, v);
        buf.put_u8(b'"');
        i += 1;
    });
}

fn sample_name(buf: &mut BytesMut, prefix: &str, name: &str, suffix: &str) {
    buf.put_slice(prefix.as_bytes());
    buf.put_slice(name.as_bytes());
    buf.put_slice(suffix.as_bytes());
}

pub(crate) fn series(
    buf: &mut BytesMut,
    scratch: &mut BytesMut,
    core: &FamilyCore,
    key: &[u8],
    cells: &[AtomicU64],
    prefix: &str,
    om: bool,
) {
    let has_labels = !core.label_names.is_empty();
    match core.value_kind {
        ValueKind::Histogram => {
            scratch.clear();
            labels(scratch, core, key);
            let n = core.bounds.len();
            let mut cum = 0u64;
            for (i, cell) in cells[..=n].iter().enumerate() {
                cum += cell.load(Ordering::Relaxed);
                sample_name(buf, prefix, &core.name, "_bucket");
                if has_labels {
                    buf.put_slice(scratch);
                    buf.put_slice(b",le=\"");
                } else {
                    buf.put_slice(b"{le=\"");
                }
                match core.bounds.get(i) {
                    Some(&b) => escape::f64(buf, b),
                    None => buf.put_slice(b"+Inf"),
                }
                buf.put_slice(b"\"} ");
                escape::u64(buf, cum);
                buf.put_u8(b'\n');
            }
            let sum = f64::from_bits(cells[n + 1].load(Ordering::Relaxed));
            for (suffix, count) in [("_sum", None), ("_count", Some(cum))] {
                sample_name(buf, prefix, &core.name, suffix);
                if has_labels {
                    buf.put_slice(scratch);
                    buf.put_u8(b'}');
                }
                buf.put_u8(b' ');
                match count {
                    Some(c) => escape::u64(buf, c),
                    None => escape::f64(buf, sum),
                }
                buf.put_u8(b'\n');
            }
        }
        kind => {
            let suffix = if om && core.metric_type == MetricType::Counter {
                "_total"
            } else {
                ""
            };
            sample_name(buf, prefix, family_name(core, om), suffix);
            if has_labels {
                labels(buf, core, key);
                buf.put_u8(b'}');
            }
            buf.put_u8(b' ');
            let raw = cells[0].load(Ordering::Relaxed);
            match kind {
                ValueKind::U64 => escape::u64(buf, raw),
                ValueKind::I64 => escape::i64(buf, raw as i64),
                _ => escape::f64(buf, f64::from_bits(raw)),
            }
            buf.put_u8(b'\n');
        }
    }
}
