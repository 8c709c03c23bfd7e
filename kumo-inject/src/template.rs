//! Templates compiled once per batch and rendered per recipient (minijinja or handlebars).
//!
//! Fields without template syntax, and every field of a `Static` request, skip the engine. HTML
//! and AMP bodies are HTML-escaped (minijinja: registered under a `.html` name; handlebars: the
//! registry with the default HTML escape); text bodies and header values are not escaped
//! (handlebars: a second registry with `no_escape`). Every render has a size cap and a work
//! budget: Jinja renders minijinja's fuel and recursion limit, handlebars renders the metered
//! helpers of [`hb_fuel`] (the `handlebars` crate has no fuel), and partials and decorators
//! (the way to recurse) are refused at compile time.

use crate::error::{RequestError, TemplateError};
use crate::model::TemplateDialect;
use handlebars::Handlebars;
use handlebars::template::{Template as HbTemplate, TemplateElement};
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as JsonValue;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;

mod hb_fuel;

/// A field's handle inside [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldId(usize);

#[derive(Debug)]
struct Field<'a> {
    /// The request path shown in errors (`content.text_body`).
    label: String,
    /// The engine's name for it, `None` for a static field.
    name: Option<String>,
    /// Whether the field is HTML-escaped.
    html: bool,
    source: &'a str,
    /// The metered handlebars helpers the source may call.
    uses: hb_fuel::Uses,
}

/// The template engine of one batch, chosen by `template_dialect`.
enum Engine<'a> {
    /// `Jinja` and `Static` (a `Static` batch never registers a template).
    Jinja {
        env: Environment<'a>,
        globals: Arc<Globals>,
    },
    Handlebars {
        /// HTML and AMP bodies: the default HTML escape.
        html: Box<Handlebars<'static>>,
        /// Text body and header values: `no_escape`.
        plain: Box<Handlebars<'static>>,
        /// The batch's substitutions, copied under each recipient's variables.
        globals: serde_json::Map<String, JsonValue>,
    },
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jinja { .. } => f.write_str("Jinja"),
            Self::Handlebars { .. } => f.write_str("Handlebars"),
        }
    }
}

/// One recipient's template variables, in the form the batch's engine reads.
#[derive(Debug)]
pub(crate) enum RenderVars {
    /// No field needs an engine.
    None,
    Jinja(Value),
    Handlebars(handlebars::Context),
}

fn hb_registry(escape: bool) -> Box<Handlebars<'static>> {
    let mut r = Handlebars::new();
    // KumoMTA's handlebars is not strict: a missing variable renders as nothing.
    r.set_strict_mode(false);
    if !escape {
        r.register_escape_fn(handlebars::no_escape);
    }
    Box::new(r)
}

/// Whether a compiled handlebars template uses a partial or a decorator (inline partials), the
/// constructs that can recurse without bound.
fn hb_recurses(t: &HbTemplate) -> bool {
    t.elements.iter().any(|e| match e {
        TemplateElement::PartialExpression(_)
        | TemplateElement::PartialBlock(_)
        | TemplateElement::DecoratorExpression(_)
        | TemplateElement::DecoratorBlock(_) => true,
        TemplateElement::HelperBlock(h) => {
            h.template.as_ref().is_some_and(hb_recurses)
                || h.inverse.as_ref().is_some_and(hb_recurses)
        }
        _ => false,
    })
}

/// Limits that stop template bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TemplateLimits {
    /// Jinja: minijinja's fuel (instructions); handlebars: work units of [`hb_fuel`].
    pub(crate) fuel: u64,
    pub(crate) recursion: usize,
    pub(crate) max_output: usize,
}

/// The compiled templates of one batch.
#[derive(Debug)]
pub(crate) struct Templates<'a> {
    engine: Engine<'a>,
    fields: Vec<Field<'a>>,
    dialect: TemplateDialect,
    uses_to_header: bool,
    max_output: usize,
    fuel: u64,
}

fn has_syntax(dialect: TemplateDialect, src: &str) -> bool {
    let b = src.as_bytes();
    match dialect {
        TemplateDialect::Static => false,
        TemplateDialect::Handlebars => memchr::memmem::find(b, b"{{").is_some(),
        TemplateDialect::Jinja => {
            memchr::memchr_iter(b'{', b).any(|i| matches!(b.get(i + 1), Some(b'{' | b'%' | b'#')))
        }
    }
}

impl<'a> Templates<'a> {
    pub(crate) fn new(
        dialect: TemplateDialect,
        globals: &HashMap<String, JsonValue>,
        limits: TemplateLimits,
    ) -> Result<Self, RequestError> {
        let engine = if dialect == TemplateDialect::Handlebars {
            Engine::Handlebars {
                html: hb_registry(true),
                plain: hb_registry(false),
                globals: globals
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }
        } else {
            let mut env = Environment::new();
            env.set_keep_trailing_newline(true);
            env.set_fuel(Some(limits.fuel));
            env.set_recursion_limit(limits.recursion);
            Engine::Jinja {
                env,
                globals: Arc::new(Globals::new(globals)),
            }
        };
        Ok(Self {
            engine,
            fields: Vec::new(),
            dialect,
            uses_to_header: false,
            max_output: limits.max_output,
            fuel: limits.fuel,
        })
    }

    /// Compiles `source` for the field `label`; `html` turns on auto-escaping.
    pub(crate) fn add(
        &mut self,
        label: String,
        source: &'a str,
        html: bool,
    ) -> Result<FieldId, RequestError> {
        let mut uses = hb_fuel::Uses::default();
        let name = if !has_syntax(self.dialect, source) {
            None
        } else {
            let name = if html {
                format!("{label}.html")
            } else {
                label.clone()
            };
            let failed = |source: TemplateError| RequestError::Template {
                field: label.clone(),
                source,
            };
            match &mut self.engine {
                Engine::Jinja { env, .. } => env
                    .add_template_owned(name.clone(), source)
                    .map_err(|e| failed(TemplateError::Jinja(e)))?,
                Engine::Handlebars {
                    html: escaped,
                    plain,
                    ..
                } => {
                    let t = HbTemplate::compile_with_name(source, name.clone())
                        .map_err(|e| failed(TemplateError::HandlebarsSyntax(Box::new(e))))?;
                    if hb_recurses(&t) {
                        return Err(failed(TemplateError::HandlebarsPartial));
                    }
                    uses = hb_fuel::Uses::of(&t);
                    let reg = if html { escaped } else { plain };
                    reg.register_template(&name, t);
                }
            }
            if source.contains("to_header") {
                self.uses_to_header = true;
            }
            Some(name)
        };
        self.fields.push(Field {
            label,
            name,
            html,
            source,
            uses,
        });
        Ok(FieldId(self.fields.len() - 1))
    }

    /// Whether some template reads the `to_header` variable.
    pub(crate) fn uses_to_header(&self) -> bool {
        self.uses_to_header
    }

    /// Whether any field needs the engine (when none does, no context is built).
    pub(crate) fn any_dynamic(&self) -> bool {
        self.fields.iter().any(|f| f.name.is_some())
    }

    /// Whether the field is used as written (no template syntax, or a `Static` request).
    pub(crate) fn is_static(&self, id: FieldId) -> bool {
        self.fields[id.0].name.is_none()
    }

    pub(crate) fn label(&self, id: FieldId) -> &str {
        &self.fields[id.0].label
    }

    /// The per-recipient variables: the batch's substitutions, then `email`, `name` and
    /// `to_header`, then the recipient's substitutions, later ones winning (KumoMTA's order).
    pub(crate) fn vars(
        &self,
        email: &str,
        name: Option<&str>,
        to_header: Option<String>,
        substitutions: &HashMap<String, JsonValue>,
    ) -> RenderVars {
        match &self.engine {
            Engine::Jinja { globals, .. } => RenderVars::Jinja(Value::from_object(JinjaVars {
                overrides: substitutions
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
                    .collect(),
                email: Value::from(email),
                name: name.map(Value::from).unwrap_or(Value::UNDEFINED),
                to_header: to_header.map(Value::from).unwrap_or(Value::UNDEFINED),
                globals: globals.clone(),
            })),
            Engine::Handlebars { globals, .. } => {
                let mut map = globals.clone();
                map.insert("email".into(), JsonValue::from(email));
                if let Some(n) = name {
                    map.insert("name".into(), JsonValue::from(n));
                }
                if let Some(h) = to_header {
                    map.insert("to_header".into(), JsonValue::from(h));
                }
                for (k, v) in substitutions {
                    map.insert(k.clone(), v.clone());
                }
                RenderVars::Handlebars(handlebars::Context::from(JsonValue::Object(map)))
            }
        }
    }

    /// Renders field `id` for one recipient into `out` (which is cleared first).
    pub(crate) fn render(
        &self,
        id: FieldId,
        vars: &RenderVars,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        out.clear();
        let field = &self.fields[id.0];
        let Some(name) = &field.name else {
            out.push_str(field.source);
            return Ok(());
        };
        let mut w = Capped {
            buf: std::mem::take(out).into_bytes(),
            max: self.max_output,
        };
        let result = match (&self.engine, vars) {
            (Engine::Jinja { env, .. }, RenderVars::Jinja(v)) => env
                .get_template(name)
                .and_then(|t| t.render_captured_to(v, &mut w))
                .map(|_| ())
                .map_err(TemplateError::Jinja),
            (Engine::Handlebars { html, plain, .. }, RenderVars::Handlebars(ctx)) => {
                let reg = if field.html { html } else { plain };
                self.render_handlebars(reg, name, field.uses, ctx, &mut w)
            }
            _ => Err(TemplateError::Jinja(Error::new(
                ErrorKind::InvalidOperation,
                "template variables of another dialect",
            ))),
        };
        let bytes = w.buf;
        // The engine writes whole UTF-8 strings; a render cut short by the cap may end
        // mid-character, and then the error below is what counts.
        *out = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        result
    }

    /// Renders a handlebars template with a fresh work budget.
    fn render_handlebars(
        &self,
        reg: &Handlebars<'static>,
        name: &str,
        uses: hb_fuel::Uses,
        ctx: &handlebars::Context,
        w: &mut Capped,
    ) -> Result<(), TemplateError> {
        let Some(template) = reg.get_template(name) else {
            return Err(TemplateError::HandlebarsRender(Box::new(
                handlebars::RenderErrorReason::TemplateNotFound(name.to_owned()).into(),
            )));
        };
        let meter = Arc::new(hb_fuel::Meter::new(self.fuel));
        let mut out = handlebars::WriteOutput::new(w);
        match hb_fuel::render(reg, template, ctx, uses, &meter, &mut out) {
            Ok(()) => Ok(()),
            Err(_) if meter.exhausted() => {
                Err(TemplateError::HandlebarsOutOfFuel { limit: self.fuel })
            }
            Err(e) => Err(TemplateError::HandlebarsRender(Box::new(e))),
        }
    }

    /// The source of a field as written in the request.
    pub(crate) fn source(&self, id: FieldId) -> &'a str {
        self.fields[id.0].source
    }
}

/// An output buffer that refuses to grow past `max` bytes.
struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            return Err(io::Error::other(Error::new(
                ErrorKind::InvalidOperation,
                "rendered output exceeds the size limit",
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The template context of one recipient, looked up in layers instead of merged into one map.
#[derive(Debug)]
struct JinjaVars {
    overrides: Vec<(String, Value)>,
    email: Value,
    name: Value,
    to_header: Value,
    globals: Arc<Globals>,
}

/// The batch's variables: a short list is searched in order (faster than hashing for the
/// handful most requests have), a long one through a map.
#[derive(Debug)]
struct Globals {
    list: Vec<(String, Value)>,
    map: Option<HashMap<String, usize>>,
}

impl Globals {
    fn new(vars: &HashMap<String, JsonValue>) -> Self {
        let list: Vec<(String, Value)> = vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
            .collect();
        let map = (list.len() > 8).then(|| {
            list.iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect()
        });
        Self { list, map }
    }

    fn get(&self, key: &str) -> Option<Value> {
        match &self.map {
            Some(m) => m.get(key).map(|&i| self.list[i].1.clone()),
            None => self
                .list
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone()),
        }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|(k, _)| k.as_str())
    }
}

impl Object for JinjaVars {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Some((_, v)) = self.overrides.iter().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        match key {
            "email" => return Some(self.email.clone()),
            "name" if !self.name.is_undefined() => return Some(self.name.clone()),
            "to_header" if !self.to_header.is_undefined() => return Some(self.to_header.clone()),
            _ => {}
        }
        self.globals.get(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = Vec::new();
        let mut push = |k: &str| {
            let k = Value::from(k);
            if !keys.contains(&k) {
                keys.push(k);
            }
        };
        for k in self.globals.keys() {
            push(k);
        }
        for (k, _) in &self.overrides {
            push(k);
        }
        push("email");
        if !self.name.is_undefined() {
            push("name");
        }
        if !self.to_header.is_undefined() {
            push("to_header");
        }
        Enumerator::Values(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TemplateLimits {
        TemplateLimits {
            fuel: 50_000,
            recursion: 100,
            max_output: 1 << 20,
        }
    }

    fn render_one(
        src: &str,
        html: bool,
        subs: &[(&str, JsonValue)],
    ) -> Result<String, TemplateError> {
        render_in(TemplateDialect::Jinja, src, html, subs)
    }

    fn render_in(
        dialect: TemplateDialect,
        src: &str,
        html: bool,
        subs: &[(&str, JsonValue)],
    ) -> Result<String, TemplateError> {
        let mut t = Templates::new(dialect, &HashMap::new(), limits()).unwrap();
        let id = t.add("f".into(), src, html).unwrap();
        let subs: HashMap<String, JsonValue> = subs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let vars = t.vars("a@b.c", Some("<A>"), None, &subs);
        let mut out = String::new();
        t.render(id, &vars, &mut out).map(|_| out)
    }

    #[test]
    fn html_is_escaped_text_is_not() {
        assert_eq!(render_one("{{ name }}", true, &[]).unwrap(), "&lt;A&gt;");
        assert_eq!(render_one("{{ name }}", false, &[]).unwrap(), "<A>");
    }

    #[test]
    fn recipient_substitutions_override_email() {
        let out = render_one("{{ email }}", false, &[("email", "x@y.z".into())]).unwrap();
        assert_eq!(out, "x@y.z");
    }

    #[test]
    fn trailing_newline_is_kept() {
        assert_eq!(
            render_one("hi {{ email }}\n", false, &[]).unwrap(),
            "hi a@b.c\n"
        );
    }

    #[test]
    fn bombs_run_out_of_fuel_or_size() {
        let e = render_one(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            false,
            &[],
        )
        .unwrap_err();
        assert!(matches!(e, TemplateError::Jinja(e) if e.kind() == ErrorKind::OutOfFuel));
        assert!(render_one("{{ 'x' * 10000000 }}", false, &[]).is_err());
    }

    #[test]
    fn handlebars_escapes_html_only() {
        let hb = TemplateDialect::Handlebars;
        assert_eq!(render_in(hb, "{{name}}", true, &[]).unwrap(), "&lt;A&gt;");
        assert_eq!(render_in(hb, "{{name}}", false, &[]).unwrap(), "<A>");
        assert_eq!(
            render_in(hb, "[{{nothing}}]\n", false, &[]).unwrap(),
            "[]\n"
        );
    }

    #[test]
    fn handlebars_recipient_substitutions_override_email() {
        let out = render_in(
            TemplateDialect::Handlebars,
            "{{email}}",
            false,
            &[("email", "x@y.z".into())],
        )
        .unwrap();
        assert_eq!(out, "x@y.z");
    }

    #[test]
    fn handlebars_output_is_capped() {
        let big: JsonValue = "x".repeat(1 << 19).into();
        let e = render_in(
            TemplateDialect::Handlebars,
            "{{s}}{{s}}{{s}}",
            false,
            &[("s", big)],
        )
        .unwrap_err();
        assert!(matches!(e, TemplateError::HandlebarsRender(_)), "{e:?}");
    }

    #[test]
    fn jinja_only_syntax_is_literal_in_handlebars() {
        let out = render_in(TemplateDialect::Handlebars, "{% x %}{# y #}", false, &[]).unwrap();
        assert_eq!(out, "{% x %}{# y #}");
    }
}
