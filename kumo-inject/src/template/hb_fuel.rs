//! A work budget ("fuel") for handlebars renders, which the `handlebars` crate does not have.
//!
//! The built-in helpers that can do work without writing output are replaced, per render, by
//! local helpers with the same names and semantics that charge a shared [`Meter`]:
//!
//! - `each`: every iteration costs the static weight of its body ([`template_weight`]), times
//!   one plus the size of the values the body could copy (values that are not in the context,
//!   see below); a collection that is not in the context (a literal, a subexpression) also
//!   costs its size, since it is copied.
//! - `with`: a value that is not in the context costs its size (it is copied), and its body
//!   costs its weight times that size.
//! - `lookup`: one plus the size of the value it returns (a copy).
//! - `eq`, `ne`, `gt`, `gte`, `lt`, `lte`: one plus the size of both operands (a comparison).
//! - `log`: one plus the size of its arguments (they are rendered), then a `tracing` event.
//!
//! Handlebars copies a value that is not in the context every time a path inside a block reads
//! it; the meter keeps the total size of such values in the open blocks so that `each` charges
//! for those copies.
//!
//! The other built-in helpers (`if`, `unless`, `and`, `or`, `not`, `len`, `raw`) do constant
//! work besides rendering their blocks, whose weight the enclosing `each` already charges, or
//! write what they work on (the output cap bounds them). Partials and decorators, the only
//! other ways to repeat work, are refused at compile time.

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperDef, HelperResult, JsonRender,
    JsonTruthy, Output, Path, RenderContext, RenderError, RenderErrorReason, Renderable,
    ScopedJson, to_json,
};
use serde_json::Value as Json;
use std::cmp::Ordering as CmpOrdering;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The work left to one render, shared by its metered helpers.
#[derive(Debug)]
pub(crate) struct Meter {
    limit: u64,
    left: AtomicU64,
    /// The total size of the values not in the context held by the open blocks.
    derived: AtomicU64,
    exhausted: AtomicBool,
}

impl Meter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            left: AtomicU64::new(limit),
            derived: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        }
    }

    /// Whether the render failed because the budget ran out.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Takes `units` from the budget, or fails the render.
    fn charge(&self, units: u64) -> Result<(), RenderError> {
        let left = self.left.load(Ordering::Relaxed);
        if units > left {
            self.left.store(0, Ordering::Relaxed);
            self.exhausted.store(true, Ordering::Relaxed);
            return Err(RenderErrorReason::Other(format!(
                "template work budget of {} units exhausted",
                self.limit
            ))
            .into());
        }
        self.left.store(left - units, Ordering::Relaxed);
        Ok(())
    }

    /// The size of `v`, counted at most up to what is left (so that weighing costs no more than
    /// the budget allows).
    fn weigh(&self, v: &Json) -> u64 {
        let cap = self.left.load(Ordering::Relaxed).saturating_add(1);
        let mut n = 0;
        json_weight(v, cap, &mut n);
        n
    }

    fn derived(&self) -> u64 {
        self.derived.load(Ordering::Relaxed)
    }

    fn enter(&self, w: u64) {
        self.derived.fetch_add(w, Ordering::Relaxed);
    }

    fn leave(&self, w: u64) {
        self.derived.fetch_sub(w, Ordering::Relaxed);
    }
}

/// Adds the size of `v` to `n` (one per value, one more per 64 bytes of string), stopping once
/// `n` reaches `cap`.
fn json_weight(v: &Json, cap: u64, n: &mut u64) {
    if *n >= cap {
        return;
    }
    *n += 1;
    match v {
        Json::String(s) => *n += s.len() as u64 / 64,
        Json::Array(a) => {
            for x in a {
                json_weight(x, cap, n);
                if *n >= cap {
                    return;
                }
            }
        }
        Json::Object(m) => {
            for (k, x) in m {
                *n += k.len() as u64 / 64;
                json_weight(x, cap, n);
                if *n >= cap {
                    return;
                }
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

/// The static weight of a template: one per element, plus its parameters (a path by its
/// length, a literal by its size), plus the weight of nested blocks. Rendering the template
/// once, outside helpers that charge for themselves, costs in proportion to it.
pub(crate) fn template_weight(t: &Template) -> u64 {
    t.elements
        .iter()
        .map(element_weight)
        .fold(0, u64::saturating_add)
}

fn element_weight(e: &TemplateElement) -> u64 {
    match e {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => {
            let mut w = 1 + param_weight(&h.name);
            for p in h.params.iter().chain(h.hash.values()) {
                w = w.saturating_add(param_weight(p));
            }
            for t in [&h.template, &h.inverse].into_iter().flatten() {
                w = w.saturating_add(template_weight(t));
            }
            w
        }
        _ => 1,
    }
}

fn param_weight(p: &Parameter) -> u64 {
    match p {
        Parameter::Path(Path::Relative((_, raw)) | Path::Local((_, _, raw))) => {
            1 + raw.len() as u64 / 8
        }
        Parameter::Literal(j) => {
            let mut n = 0;
            json_weight(j, u64::MAX, &mut n);
            n
        }
        Parameter::Subexpression(s) => 1 + element_weight(&s.element),
        _ => 1,
    }
}

/// A metered built-in helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Each,
    With,
    Lookup,
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Log,
}

impl Kind {
    pub(crate) const ALL: [Kind; 10] = [
        Kind::Each,
        Kind::With,
        Kind::Lookup,
        Kind::Eq,
        Kind::Ne,
        Kind::Gt,
        Kind::Gte,
        Kind::Lt,
        Kind::Lte,
        Kind::Log,
    ];

    /// The helper's name in templates.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Each => "each",
            Kind::With => "with",
            Kind::Lookup => "lookup",
            Kind::Eq => "eq",
            Kind::Ne => "ne",
            Kind::Gt => "gt",
            Kind::Gte => "gte",
            Kind::Lt => "lt",
            Kind::Lte => "lte",
            Kind::Log => "log",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The metered helpers a template calls, found by name in the compiled template, so that a
/// render registers only those (most templates call none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Uses(u16);

impl Uses {
    pub(crate) fn of(t: &Template) -> Self {
        let mut uses = Self::default();
        uses.add_template(t);
        uses
    }

    fn add_template(&mut self, t: &Template) {
        for e in &t.elements {
            self.add_element(e);
        }
    }

    fn add_element(&mut self, e: &TemplateElement) {
        if let TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) = e
        {
            let name = match &h.name {
                Parameter::Name(n) => Some(n.as_str()),
                Parameter::Path(Path::Relative((_, raw))) => Some(raw.as_str()),
                _ => None,
            };
            if let Some(k) = Kind::ALL.iter().find(|k| Some(k.name()) == name) {
                self.0 |= k.bit();
            }
            for p in h.params.iter().chain(h.hash.values()) {
                if let Parameter::Subexpression(s) = p {
                    self.add_element(&s.element);
                }
            }
            for t in [&h.template, &h.inverse].into_iter().flatten() {
                self.add_template(t);
            }
        }
    }

    fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.0 & k.bit() != 0)
    }
}

/// Renders `template` with the metered helpers it uses registered for this render only.
///
/// # Errors
///
/// The engine's error; [`Meter::exhausted`] tells whether it is the budget.
pub(crate) fn render(
    reg: &Handlebars<'static>,
    template: &Template,
    ctx: &Context,
    uses: Uses,
    meter: &Arc<Meter>,
    out: &mut dyn Output,
) -> Result<(), RenderError> {
    let mut rc = RenderContext::new(template.name.as_ref());
    for kind in uses.iter() {
        rc.register_local_helper(
            kind.name(),
            Box::new(Metered {
                kind,
                meter: meter.clone(),
            }),
        );
    }
    template.render(reg, ctx, &mut rc, out)
}

/// One metered helper of one render.
struct Metered {
    kind: Kind,
    meter: Arc<Meter>,
}

impl HelperDef for Metered {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        match self.kind {
            Kind::Lookup => self.lookup(h, r),
            Kind::Eq | Kind::Ne | Kind::Gt | Kind::Gte | Kind::Lt | Kind::Lte => self
                .compare(h, r)
                .map(|b| ScopedJson::Derived(Json::Bool(b))),
            // Block helpers, called through `call` only.
            Kind::Each | Kind::With | Kind::Log => Err(RenderErrorReason::Unimplemented.into()),
        }
    }

    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        match self.kind {
            Kind::Each => self.each(h, r, ctx, rc, out),
            Kind::With => self.with(h, r, ctx, rc, out),
            Kind::Log => self.log(h),
            Kind::Lookup => {
                let v = self.lookup(h, r)?;
                if r.strict_mode() && v.is_missing() {
                    return Err(RenderError::strict_error(None));
                }
                let text = v.render();
                let text = if rc.is_disable_escape() {
                    text
                } else {
                    r.get_escape_fn()(&text)
                };
                write(&text, rc, out)
            }
            Kind::Eq | Kind::Ne | Kind::Gt | Kind::Gte | Kind::Lt | Kind::Lte => {
                let value = self.compare(h, r)?;
                if !h.is_block() {
                    return out
                        .write(if value { "true" } else { "false" })
                        .map_err(|e| RenderErrorReason::Other(e.to_string()).into());
                }
                match if value { h.template() } else { h.inverse() } {
                    Some(t) => t.render(r, ctx, rc, out),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Writes helper output as the engine does for a value (no partials, so no indentation).
fn write(text: &str, rc: &mut RenderContext<'_, '_>, out: &mut dyn Output) -> HelperResult {
    if text.is_empty() {
        return Ok(());
    }
    rc.set_content_produced(true);
    out.write(text)?;
    let nl = text.ends_with('\n');
    rc.set_trailing_newline(nl);
    rc.set_indent_before_write(nl);
    Ok(())
}

/// A block for `value` (its path in the context, or a copy when it is not in the context).
fn block_for<'rc>(value: &handlebars::PathAndJson<'rc>) -> BlockContext<'rc> {
    let mut block = BlockContext::new();
    match value.context_path() {
        Some(p) => block.base_path_mut().clone_from(p),
        None => block.set_base_value(value.value().clone()),
    }
    block
}

impl Metered {
    fn each<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(t) = h.template() else {
            return Ok(());
        };
        let body = template_weight(t);
        self.meter.charge(1u64.saturating_add(body))?;
        let base_path = value.context_path();
        let copied = base_path.is_none();
        if copied {
            // The collection, then each item as the block's value and block parameter.
            let w = self.meter.weigh(value.value());
            self.meter.charge(w.saturating_mul(3))?;
        }
        let len = match value.value() {
            Json::Array(a) => a.len(),
            Json::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0
            && (h.inverse().is_some() || !matches!(value.value(), Json::Array(_) | Json::Object(_)))
        {
            return match h.inverse() {
                Some(e) => e.render(r, ctx, rc, out),
                None if r.strict_mode() => Err(RenderError::strict_error(value.relative_path())),
                None => Ok(()),
            };
        }
        rc.push_block(block_for(value));
        let items: Box<dyn Iterator<Item = (Option<&String>, &Json)>> = match value.value() {
            Json::Array(a) => Box::new(a.iter().map(|v| (None, v))),
            Json::Object(o) => Box::new(o.iter().map(|(k, v)| (Some(k), v))),
            _ => Box::new(std::iter::empty()),
        };
        for (i, (key, v)) in items.enumerate() {
            let item = if copied { self.meter.weigh(v) } else { 0 };
            let reads = self.meter.derived().saturating_add(item).saturating_add(1);
            self.meter
                .charge(body.saturating_add(1).saturating_mul(reads))?;
            if let Some(block) = rc.block_mut() {
                let first = i == 0;
                block.set_local_var("first", to_json(first));
                block.set_local_var("last", to_json(i == len - 1));
                let seg = match key {
                    Some(k) => {
                        block.set_local_var("key", to_json(k));
                        k.clone()
                    }
                    None => i.to_string(),
                };
                block.set_local_var("index", to_json(i));
                match base_path {
                    Some(p) if first => {
                        let mut path = Vec::with_capacity(p.len() + 1);
                        path.extend_from_slice(p);
                        path.push(seg);
                        *block.base_path_mut() = path;
                    }
                    Some(_) => {
                        if let Some(last) = block.base_path_mut().last_mut() {
                            *last = seg;
                        }
                    }
                    None => block.set_base_value(v.clone()),
                }
                let k = match key {
                    Some(k) => to_json(k),
                    None => to_json(i),
                };
                if let Some(name) = h.block_param() {
                    let mut params = BlockParams::new();
                    bind_param(&mut params, name, copied, v)?;
                    block.set_block_params(params);
                } else if let Some((name, key_name)) = h.block_param_pair() {
                    let mut params = BlockParams::new();
                    bind_param(&mut params, name, copied, v)?;
                    params.add_value(key_name, k)?;
                    block.set_block_params(params);
                }
            }
            self.meter.enter(item);
            let rendered = t.render(r, ctx, rc, out);
            self.meter.leave(item);
            rendered?;
        }
        rc.pop_block();
        Ok(())
    }

    fn with<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("with", 0))?;
        if !param.value().is_truthy(false) {
            return match h.inverse() {
                Some(t) => t.render(r, ctx, rc, out),
                None if r.strict_mode() => Err(RenderError::strict_error(param.relative_path())),
                None => Ok(()),
            };
        }
        let copied = param.context_path().is_none();
        let w = if copied {
            self.meter.weigh(param.value())
        } else {
            0
        };
        if copied {
            // Two copies (block value, block parameter), and every read in the body.
            let body = h.template().map_or(0, template_weight);
            self.meter
                .charge(w.saturating_mul(body.saturating_add(2)))?;
        }
        let mut block = block_for(param);
        // `@index`, `@key`, ... of the enclosing block stay visible inside `with`.
        if let Some(parent) = rc.block() {
            block
                .local_variables_mut()
                .clone_from(parent.local_variables());
        }
        if let Some(name) = h.block_param() {
            let mut params = BlockParams::new();
            bind_param(&mut params, name, copied, param.value())?;
            block.set_block_params(params);
        }
        rc.push_block(block);
        if let Some(t) = h.template() {
            self.meter.enter(w);
            let rendered = t.render(r, ctx, rc, out);
            self.meter.leave(w);
            rendered?;
        }
        rc.pop_block();
        Ok(())
    }

    fn lookup<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let collection = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("lookup", 0))?;
        let index = h
            .param(1)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("lookup", 1))?;
        let found = match collection.value() {
            Json::Array(a) => index
                .value()
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| a.get(i)),
            Json::Object(o) => index.value().as_str().and_then(|k| o.get(k)),
            _ => None,
        };
        if r.strict_mode() && found.is_none() {
            return Err(RenderError::strict_error(None));
        }
        let v = found.unwrap_or(&Json::Null);
        let w = self.meter.weigh(v);
        self.meter.charge(w.saturating_add(1))?;
        Ok(ScopedJson::Derived(v.clone()))
    }

    fn compare(&self, h: &Helper<'_>, r: &Handlebars<'_>) -> Result<bool, RenderError> {
        let name = self.kind.name();
        let operand = |i: usize| {
            h.param(i)
                .filter(|p| !(r.strict_mode() && p.is_value_missing()))
                .map(|p| p.value())
                .ok_or(RenderErrorReason::ParamNotFoundForIndex(name, i))
        };
        let (x, y) = (operand(0)?, operand(1)?);
        let w = self.meter.weigh(x).saturating_add(self.meter.weigh(y));
        self.meter.charge(w.saturating_add(1))?;
        let ord = || compare_json(x, y);
        Ok(match self.kind {
            Kind::Eq => x == y,
            Kind::Ne => x != y,
            Kind::Gt => ord() == Some(CmpOrdering::Greater),
            Kind::Gte => ord().is_some_and(|o| o != CmpOrdering::Less),
            Kind::Lt => ord() == Some(CmpOrdering::Less),
            _ => ord().is_some_and(|o| o != CmpOrdering::Greater),
        })
    }

    fn log(&self, h: &Helper<'_>) -> HelperResult {
        let level = h
            .hash_get("level")
            .and_then(|v| v.value().as_str())
            .unwrap_or("info");
        let w = h
            .params()
            .iter()
            .map(|p| self.meter.weigh(p.value()))
            .fold(1, u64::saturating_add);
        self.meter.charge(w)?;
        let text = h
            .params()
            .iter()
            .map(|p| match p.relative_path() {
                Some(path) => format!("{path}: {}", p.value().render()),
                None => p.value().render(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        const TARGET: &str = "kumo_inject::template";
        match level.to_ascii_lowercase().as_str() {
            "trace" => tracing::trace!(target: TARGET, "{text}"),
            "debug" => tracing::debug!(target: TARGET, "{text}"),
            "info" => tracing::info!(target: TARGET, "{text}"),
            "warn" => tracing::warn!(target: TARGET, "{text}"),
            "error" => tracing::error!(target: TARGET, "{text}"),
            _ => return Err(RenderErrorReason::InvalidLoggingLevel(level.to_owned()).into()),
        }
        Ok(())
    }
}

/// Orders two JSON scalars as the built-in comparison helpers do: numbers by value (exactly,
/// across integers and floats), strings by bytes, booleans, and a number against a string
/// that parses as a number. `None` for anything else.
fn compare_json(x: &Json, y: &Json) -> Option<CmpOrdering> {
    let num_str = |n: &serde_json::Number, s: &str| {
        serde_json::Number::from_str(s)
            .ok()
            .and_then(|m| compare_numbers(n, &m))
    };
    match (x, y) {
        (Json::Number(a), Json::Number(b)) => compare_numbers(a, b),
        (Json::String(a), Json::String(b)) => Some(a.cmp(b)),
        (Json::Bool(a), Json::Bool(b)) => Some(a.cmp(b)),
        (Json::Number(a), Json::String(b)) => num_str(a, b),
        (Json::String(a), Json::Number(b)) => num_str(b, a).map(CmpOrdering::reverse),
        _ => None,
    }
}

/// A JSON number as an exact integer or a float.
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &serde_json::Number) -> Option<Num> {
    if let Some(u) = n.as_u64() {
        Some(Num::Int(i128::from(u)))
    } else if let Some(i) = n.as_i64() {
        Some(Num::Int(i128::from(i)))
    } else {
        n.as_f64().map(Num::Float)
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<CmpOrdering> {
    match (num(a)?, num(b)?) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => int_float(x, y),
        (Num::Float(x), Num::Int(y)) => int_float(y, x).map(CmpOrdering::reverse),
    }
}

/// Compares an integer (within 64 bits) with a float exactly.
fn int_float(i: i128, f: f64) -> Option<CmpOrdering> {
    if f.is_nan() {
        return None;
    }
    let t = f.trunc();
    // Saturating: any float beyond ±2^127 is beyond every 64-bit integer.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "saturating conversion of a truncated float, exact within the range that matters"
    )]
    let ti = t as i128;
    match i.cmp(&ti) {
        CmpOrdering::Equal if f > t => Some(CmpOrdering::Less),
        CmpOrdering::Equal if f < t => Some(CmpOrdering::Greater),
        o => Some(o),
    }
}

/// Binds a block parameter as the built-in helpers do: to a copy of `value` when it is not in
/// the context (`copied`), else to the block's own base path.
fn bind_param<'a>(
    params: &mut BlockParams<'a>,
    name: &'a str,
    copied: bool,
    value: &Json,
) -> Result<(), RenderError> {
    if copied {
        params.add_value(name, value.clone())?;
    } else {
        params.add_path(name, Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_and_floats_compare_exactly() {
        let n = |v: Json| match v {
            Json::Number(n) => n,
            _ => unreachable!(),
        };
        let cmp = |a: Json, b: Json| compare_numbers(&n(a), &n(b));
        assert_eq!(cmp(json!(1), json!(1.5)), Some(CmpOrdering::Less));
        assert_eq!(cmp(json!(2), json!(1.5)), Some(CmpOrdering::Greater));
        assert_eq!(cmp(json!(2), json!(2.0)), Some(CmpOrdering::Equal));
        assert_eq!(cmp(json!(-2), json!(-1.5)), Some(CmpOrdering::Less));
        assert_eq!(cmp(json!(-1), json!(-1.5)), Some(CmpOrdering::Greater));
        assert_eq!(cmp(json!(u64::MAX), json!(1e30)), Some(CmpOrdering::Less));
        assert_eq!(
            cmp(json!(i64::MIN), json!(-1e30)),
            Some(CmpOrdering::Greater)
        );
        // 2^53 + 1 is not a float; an inexact conversion would call these equal.
        assert_eq!(
            cmp(
                json!(9_007_199_254_740_993u64),
                json!(9_007_199_254_740_992.0)
            ),
            Some(CmpOrdering::Greater)
        );
        assert_eq!(cmp(json!(u64::MAX), json!(-1)), Some(CmpOrdering::Greater));
    }

    #[test]
    fn weight_stops_at_the_cap() {
        let big = Json::Array(vec![json!(1); 10_000]);
        let mut n = 0;
        json_weight(&big, 100, &mut n);
        assert_eq!(n, 100);
        let mut n = 0;
        json_weight(&big, u64::MAX, &mut n);
        assert_eq!(n, 10_001);
    }

    #[test]
    fn the_meter_fails_once_and_stays_empty() {
        let m = Meter::new(10);
        assert!(m.charge(6).is_ok());
        assert!(!m.exhausted());
        assert!(m.charge(5).is_err());
        assert!(m.exhausted());
        assert!(m.charge(1).is_err());
    }
}
