//! Templates compiled once per batch and rendered per recipient (minijinja).
//!
//! Fields without template syntax, and every field of a `Static` request, skip the engine. HTML
//! and AMP bodies are registered under a `.html` name, which turns on HTML auto-escaping; text
//! bodies and header values are not escaped. Every render has a fuel budget and a size cap, and
//! the engine's recursion limit applies, so a template bomb fails its recipient instead of
//! exhausting the host.

use crate::error::RequestError;
use crate::model::TemplateDialect;
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as JsonValue;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;

/// A field's handle inside [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldId(usize);

#[derive(Debug)]
struct Field<'a> {
    /// The request path shown in errors (`content.text_body`).
    label: String,
    /// The engine's name for it, `None` for a static field.
    name: Option<String>,
    source: &'a str,
}

/// Limits that stop template bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TemplateLimits {
    pub(crate) fuel: u64,
    pub(crate) recursion: usize,
    pub(crate) max_output: usize,
}

/// The compiled templates of one batch.
#[derive(Debug)]
pub(crate) struct Templates<'a> {
    env: Environment<'a>,
    fields: Vec<Field<'a>>,
    globals: Arc<Globals>,
    dialect: TemplateDialect,
    uses_to_header: bool,
    max_output: usize,
}

fn has_syntax(src: &str) -> bool {
    let b = src.as_bytes();
    memchr::memchr_iter(b'{', b).any(|i| matches!(b.get(i + 1), Some(b'{' | b'%' | b'#')))
}

impl<'a> Templates<'a> {
    pub(crate) fn new(
        dialect: TemplateDialect,
        globals: &HashMap<String, JsonValue>,
        limits: TemplateLimits,
    ) -> Result<Self, RequestError> {
        if dialect == TemplateDialect::Handlebars {
            return Err(RequestError::UnsupportedDialect(dialect));
        }
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(limits.recursion);
        Ok(Self {
            env,
            fields: Vec::new(),
            globals: Arc::new(Globals::new(globals)),
            dialect,
            uses_to_header: false,
            max_output: limits.max_output,
        })
    }

    /// Compiles `source` for the field `label`; `html` turns on auto-escaping.
    pub(crate) fn add(
        &mut self,
        label: String,
        source: &'a str,
        html: bool,
    ) -> Result<FieldId, RequestError> {
        let name = if self.dialect == TemplateDialect::Static || !has_syntax(source) {
            None
        } else {
            let name = if html {
                format!("{label}.html")
            } else {
                label.clone()
            };
            self.env
                .add_template_owned(name.clone(), source)
                .map_err(|source| RequestError::Template {
                    field: label.clone(),
                    source,
                })?;
            if source.contains("to_header") {
                self.uses_to_header = true;
            }
            Some(name)
        };
        self.fields.push(Field {
            label,
            name,
            source,
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
    ) -> Value {
        Value::from_object(Vars {
            overrides: substitutions
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
                .collect(),
            email: Value::from(email),
            name: name.map(Value::from).unwrap_or(Value::UNDEFINED),
            to_header: to_header.map(Value::from).unwrap_or(Value::UNDEFINED),
            globals: self.globals.clone(),
        })
    }

    /// Renders field `id` for one recipient into `out` (which is cleared first).
    pub(crate) fn render(&self, id: FieldId, vars: &Value, out: &mut String) -> Result<(), Error> {
        out.clear();
        let field = &self.fields[id.0];
        let Some(name) = &field.name else {
            out.push_str(field.source);
            return Ok(());
        };
        let tmpl = self.env.get_template(name)?;
        let mut w = Capped {
            buf: std::mem::take(out).into_bytes(),
            max: self.max_output,
        };
        let result = tmpl.render_captured_to(vars, &mut w);
        let bytes = w.buf;
        // The engine writes whole UTF-8 strings; a render cut short by the cap may end
        // mid-character, and then the error below is what counts.
        *out = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        result.map(|_| ())
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
struct Vars {
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

impl Object for Vars {
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

    fn render_one(src: &str, html: bool, subs: &[(&str, JsonValue)]) -> Result<String, Error> {
        let mut t = Templates::new(TemplateDialect::Jinja, &HashMap::new(), limits()).unwrap();
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
        assert_eq!(e.kind(), ErrorKind::OutOfFuel);
        assert!(render_one("{{ 'x' * 10000000 }}", false, &[]).is_err());
    }
}
