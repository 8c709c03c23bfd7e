//! Reads KumoMTA's `/metrics.json` shape back into [`ParsedFamily`]s.

use super::{HistogramSeries, ParsedFamily, ParsedSeries};
use crate::family::MetricType;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// JSON that is not valid, or not in the `/metrics.json` shape. Permanent for that input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Not valid JSON.
    #[error("invalid json")]
    Syntax(#[source] serde_json::Error),
    /// Valid JSON, but not the expected shape; the text says where.
    #[error("unexpected json shape at {0}")]
    Shape(String),
    /// The families would hold more bytes than the input can account for: each series owns a
    /// copy of its family name (and, in the one-label form, of the label name), so a long
    /// name over many short series would multiply the input. The limit is in bytes.
    #[error("json names repeat beyond {0} bytes")]
    TooLarge(usize),
}

/// A JSON value whose objects keep their key order.
enum J {
    Null,
    Bool,
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<J, E> {
        Ok(J::Bool)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J, E> {
        Ok(J::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = a.next_entry::<String, J>()? {
            v.push((k, x));
        }
        Ok(J::Obj(v))
    }
}

fn shape(at: &str) -> JsonError {
    JsonError::Shape(at.to_owned())
}

/// Parses `/metrics.json` output: families in input order; a `null` number reads as `NaN`,
/// except a family's whole `value` being `null`, which means "no series" (so a label-less
/// series whose value was not finite reads back as absent: the shape cannot tell them apart).
///
/// Counters and gauges become [`ParsedSeries::Sample`]s named after the family; histograms
/// become [`HistogramSeries`] with a `+Inf` bucket equal to the count.
///
/// # Errors
///
/// [`JsonError::Syntax`] for invalid JSON, [`JsonError::Shape`] for another shape.
///
/// # Examples
///
/// ```
/// let f = kumo_metrics::parse_json(br#"{"q":{"type":"gauge","value":{"queue":{"a":1}}}}"#)?;
/// assert_eq!(f[0].series.len(), 1);
/// # Ok::<(), kumo_metrics::JsonError>(())
/// ```
pub fn parse_json(input: &[u8]) -> Result<Vec<ParsedFamily>, JsonError> {
    let root: J = serde_json::from_slice(input).map_err(JsonError::Syntax)?;
    let J::Obj(families) = root else {
        return Err(shape("top level"));
    };
    let mut out = Vec::with_capacity(families.len());
    // The bytes of names copied into series, at most a constant times the input.
    let budget = input
        .len()
        .saturating_mul(NAME_COPIES_PER_BYTE)
        .saturating_add(1 << 16);
    let mut copied = 0usize;
    let mut copy = |bytes: usize| {
        copied = copied.saturating_add(bytes);
        if copied > budget {
            Err(JsonError::TooLarge(budget))
        } else {
            Ok(())
        }
    };
    for (name, body) in families {
        let J::Obj(fields) = body else {
            return Err(shape(&name));
        };
        let mut fam = ParsedFamily {
            name: name.clone(),
            ..Default::default()
        };
        let mut value = None;
        for (k, v) in fields {
            match (k.as_str(), v) {
                ("help", J::Str(s)) => fam.help = s,
                ("type", J::Str(t)) => {
                    fam.metric_type = match t.as_str() {
                        "counter" => MetricType::Counter,
                        "gauge" => MetricType::Gauge,
                        "histogram" => MetricType::Histogram,
                        "summary" => MetricType::Summary,
                        "untyped" | "unknown" => MetricType::Untyped,
                        _ => return Err(shape(&format!("{name}.type"))),
                    }
                }
                ("value", v) => value = Some(v),
                _ => {}
            }
        }
        let hist = fam.metric_type == MetricType::Histogram;
        match value.unwrap_or(J::Null) {
            J::Null => {}
            J::Obj(mut o) if o.len() == 1 && matches!(o[0].1, J::Obj(_)) && !is_hist_obj(&o) => {
                let (label, inner) = o.remove(0);
                let J::Obj(entries) = inner else {
                    return Err(shape(&name));
                };
                for (lv, v) in entries {
                    copy(name.len() + label.len())?;
                    fam.series
                        .push(series(&name, vec![(label.clone(), lv)], v, hist)?);
                }
            }
            J::Arr(items) => {
                for item in items {
                    let J::Obj(fields) = item else {
                        return Err(shape(&name));
                    };
                    let mut labels = Vec::new();
                    let mut v = None;
                    for (k, x) in fields {
                        match (k == "@", x) {
                            (true, x) => v = Some(x),
                            (false, J::Str(s)) => labels.push((k, s)),
                            _ => return Err(shape(&format!("{name}.{k}"))),
                        }
                    }
                    let v = v.ok_or_else(|| shape(&format!("{name}.@")))?;
                    copy(name.len())?;
                    fam.series.push(series(&name, labels, v, hist)?);
                }
            }
            v => fam.series.push(series(&name, Vec::new(), v, hist)?),
        }
        out.push(fam);
    }
    Ok(out)
}

/// [`parse_json`]'s bound: the names copied into series hold at most this many bytes per
/// input byte (plus 64 KiB).
const NAME_COPIES_PER_BYTE: usize = 32;

fn is_hist_obj(o: &[(String, J)]) -> bool {
    o.iter().any(|(k, _)| k == "bucket" || k == "count")
}

fn num(v: &J, at: &str) -> Result<f64, JsonError> {
    match v {
        J::Num(n) => Ok(*n),
        J::Null => Ok(f64::NAN),
        _ => Err(shape(at)),
    }
}

fn series(
    name: &str,
    labels: Vec<(String, String)>,
    v: J,
    hist: bool,
) -> Result<ParsedSeries, JsonError> {
    if !hist {
        return Ok(ParsedSeries::Sample {
            name: name.to_owned(),
            labels,
            value: num(&v, name)?,
            timestamp: None,
        });
    }
    let J::Obj(fields) = v else {
        return Err(shape(name));
    };
    let mut h = HistogramSeries {
        name: name.to_owned(),
        labels,
        ..Default::default()
    };
    for (k, x) in fields {
        match k.as_str() {
            "count" => h.count = Some(num(&x, name)?),
            "sum" => h.sum = Some(num(&x, name)?),
            "bucket" => {
                let J::Arr(bs) = x else {
                    return Err(shape(name));
                };
                for b in bs {
                    match b {
                        J::Arr(p) if p.len() == 2 => {
                            h.buckets.push((num(&p[0], name)?, num(&p[1], name)?));
                        }
                        _ => return Err(shape(name)),
                    }
                }
            }
            _ => {}
        }
    }
    h.buckets.push((f64::INFINITY, h.count.unwrap_or(0.0)));
    Ok(ParsedSeries::Histogram(h))
}
