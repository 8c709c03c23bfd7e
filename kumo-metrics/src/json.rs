//! The `/metrics.json` writer, in KumoMTA's shape.
//!
//! `{"name":{"help":"…","type":"counter","value":V}, …}` where V is the number for a family
//! without labels, `{"label":{"value":number,…}}` for one label, `[{"l1":"…","l2":"…","@":number},…]`
//! for several, and `null` for a family without series. A histogram's number is
//! `{"count":c,"sum":s,"avg":a,"bucket":[[upper_bound,cumulative_count],…]}` (no `+Inf` entry).
//! Non-finite numbers are written as `null`.

use crate::escape;
use crate::family::{FamilyCore, ValueKind};
use crate::labels::for_each_key_value;
use bytes::{BufMut, BytesMut};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) fn begin(buf: &mut BytesMut, core: &FamilyCore, prefix: &str, first: bool) {
    buf.put_slice(if first { b"{" } else { b",\n" });
    buf.put_u8(b'"');
    // The prefix and the name are `[a-zA-Z0-9_:]`: no escaping needed.
    buf.put_slice(prefix.as_bytes());
    buf.put_slice(core.name.as_bytes());
    buf.put_slice(b"\":{");
    if !core.help.is_empty() {
        buf.put_slice(b"\"help\":");
        escape::json_string(buf, &core.help);
        buf.put_u8(b',');
    }
    buf.put_slice(b"\"type\":\"");
    buf.put_slice(core.metric_type.as_str().as_bytes());
    buf.put_slice(b"\",\"value\":");
}

pub(crate) fn series(
    buf: &mut BytesMut,
    core: &FamilyCore,
    key: &[u8],
    cells: &[AtomicU64],
    first: bool,
) {
    match core.label_names.len() {
        0 => value(buf, core, cells),
        1 => {
            if first {
                buf.put_slice(b"{");
                escape::json_string(buf, core.label_names[0]);
                buf.put_slice(b":{");
            } else {
                buf.put_u8(b',');
            }
            for_each_key_value(key, |v| escape::json_string(buf, v));
            buf.put_u8(b':');
            value(buf, core, cells);
        }
        _ => {
            buf.put_slice(if first { b"[{" } else { b",{" });
            let mut i = 0;
            for_each_key_value(key, |v| {
                buf.put_u8(b'"');
                buf.put_slice(core.label_names[i].as_bytes());
                buf.put_slice(b"\":");
                escape::json_string(buf, v);
                buf.put_u8(b',');
                i += 1;
            });
            buf.put_slice(b"\"@\":");
            value(buf, core, cells);
            buf.put_u8(b'}');
        }
    }
}

pub(crate) fn end(buf: &mut BytesMut, core: &FamilyCore, had_series: bool) {
    if !had_series {
        buf.put_slice(b"null");
    } else {
        match core.label_names.len() {
            0 => {}
            1 => buf.put_slice(b"}}"),
            _ => buf.put_u8(b']'),
        }
    }
    buf.put_u8(b'}');
}

pub(crate) fn finish(buf: &mut BytesMut, any_family: bool) {
    buf.put_slice(if any_family { b"}\n" } else { b"{}\n" });
}

fn value(buf: &mut BytesMut, core: &FamilyCore, cells: &[AtomicU64]) {
    let raw = cells[0].load(Ordering::Relaxed);
    match core.value_kind {
        ValueKind::U64 => escape::u64(buf, raw),
        ValueKind::I64 => escape::i64(buf, raw as i64),
        ValueKind::F64 => escape::json_f64(buf, f64::from_bits(raw)),
        ValueKind::Histogram => {
            let n = core.bounds.len();
            let count: u64 = cells[..=n].iter().map(|c| c.load(Ordering::Relaxed)).sum();
            let sum = f64::from_bits(cells[n + 1].load(Ordering::Relaxed));
            buf.put_slice(b"{\"count\":");
            escape::u64(buf, count);
            buf.put_slice(b",\"sum\":");
            escape::json_f64(buf, sum);
            buf.put_slice(b",\"avg\":");
            escape::json_f64(
                buf,
                if count == 0 {
                    f64::NAN
                } else {
                    sum / count as f64
                },
            );
            buf.put_slice(b",\"bucket\":[");
            let mut cum = 0u64;
            for (i, &b) in core.bounds.iter().enumerate() {
                cum += cells[i].load(Ordering::Relaxed);
                buf.put_slice(if i == 0 { b"[" } else { b",[" });
                escape::json_f64(buf, b);
                buf.put_u8(b',');
                escape::u64(buf, cum);
                buf.put_u8(b']');
            }
            buf.put_slice(b"]}");
        }
    }
}
