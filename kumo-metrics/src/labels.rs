//! Typed label sets and the compact key encoding the registry stores per series.

use std::hash::{BuildHasher, Hasher};

/// A typed set of label names, with a borrowed form of its values for lookups.
///
/// Implement it with [`label_set!`](crate::label_set), which makes a struct of `&str` fields
/// (the borrowed values) and this impl. The label *names* are the field names and are stored once
/// per family, never per series. `()` is the empty label set (a metric without labels).
///
/// # Examples
///
/// ```
/// kumo_metrics::label_set! {
///     /// Labels of a per-queue metric.
///     pub struct QueueLabels { queue, provider, pool }
/// }
/// use kumo_metrics::LabelSet;
/// assert_eq!(<QueueLabels<'static> as LabelSet>::NAMES, ["queue", "provider", "pool"]);
/// ```
pub trait LabelSet: 'static {
    /// The label names, in the order they are written.
    const NAMES: &'static [&'static str];
    /// The borrowed label values used to look a series up (a struct of `&'a str`).
    type Values<'a>;
    /// Calls `f` with each value, in the order of [`NAMES`](Self::NAMES).
    fn for_each_value(values: &Self::Values<'_>, f: &mut dyn FnMut(&str));
}

impl LabelSet for () {
    const NAMES: &'static [&'static str] = &[];
    type Values<'a> = ();
    fn for_each_value(_: &(), _: &mut dyn FnMut(&str)) {}
}

/// Declares a typed label set: a struct with one `&'a str` field per label, and its
/// [`LabelSet`] impl. The field names are the label names.
///
/// # Examples
///
/// ```
/// kumo_metrics::label_set! {
///     /// Labels of a per-provider metric.
///     pub struct ProviderLabels { provider, pool }
/// }
/// let registry = kumo_metrics::Registry::new();
/// let family = registry
///     .family("delivered_total", "messages delivered")
///     .counter::<ProviderLabels<'static>>()?;
/// let c = family.get_or_create(&ProviderLabels { provider: "gmail", pool: "default" });
/// c.inc();
/// # Ok::<(), kumo_metrics::RegisterError>(())
/// ```
#[macro_export]
macro_rules! label_set {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $field:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name<'a> {
            $(
                $(#[$fmeta])*
                #[allow(missing_docs, reason = "the field name is the label name")]
                pub $field: &'a str,
            )+
        }
        impl $crate::LabelSet for $name<'static> {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
            type Values<'a> = $name<'a>;
            fn for_each_value(values: &$name<'_>, f: &mut dyn FnMut(&str)) {
                $( f(values.$field); )+
            }
        }
    };
}

/// The separator between label values in a stored key: never part of valid UTF-8.
pub(crate) const SEP: u8 = 0xff;

/// Hashes label values as a sequence of (value, separator) pieces; [`hash_key`] gives the same
/// result for the encoded key.
pub(crate) fn hash_values<L: LabelSet>(hasher: &impl BuildHasher, values: &L::Values<'_>) -> u64 {
    let mut h = hasher.build_hasher();
    L::for_each_value(values, &mut |v| {
        h.write(v.as_bytes());
        h.write_u8(SEP);
    });
    h.finish()
}

/// The hash of an encoded key; equal to [`hash_values`] of the values it was made from.
pub(crate) fn hash_key(hasher: &impl BuildHasher, key: &[u8]) -> u64 {
    let mut h = hasher.build_hasher();
    for_each_key_value(key, |v| {
        h.write(v.as_bytes());
        h.write_u8(SEP);
    });
    h.finish()
}

/// Encodes label values: each value followed by [`SEP`].
pub(crate) fn encode_key<L: LabelSet>(values: &L::Values<'_>) -> Box<[u8]> {
    let mut len = 0;
    L::for_each_value(values, &mut |v| len += v.len() + 1);
    let mut out = Vec::with_capacity(len);
    L::for_each_value(values, &mut |v| {
        out.extend_from_slice(v.as_bytes());
        out.push(SEP);
    });
    out.into_boxed_slice()
}

/// Whether an encoded key holds exactly these values.
pub(crate) fn key_eq<L: LabelSet>(key: &[u8], values: &L::Values<'_>) -> bool {
    let mut rest = key;
    let mut ok = true;
    L::for_each_value(values, &mut |v| {
        if !ok {
            return;
        }
        let v = v.as_bytes();
        if rest.len() > v.len() && rest[v.len()] == SEP && &rest[..v.len()] == v {
            rest = &rest[v.len() + 1..];
        } else {
            ok = false;
        }
    });
    ok && rest.is_empty()
}

/// Calls `f` with each value of an encoded key.
pub(crate) fn for_each_key_value(key: &[u8], mut f: impl FnMut(&str)) {
    let mut rest = key;
    while let Some(end) = memchr::memchr(SEP, rest) {
        // The key was made from `&str` values joined by a byte that never occurs in UTF-8.
        f(std::str::from_utf8(&rest[..end]).unwrap_or_default());
        rest = &rest[end + 1..];
    }
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn is_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::label_set! { struct Two { a, b } }

    #[test]
    fn key_round_trips_and_hashes_alike() {
        let s = hashbrown::DefaultHashBuilder::default();
        let v = Two { a: "x\"y", b: "" };
        let k = encode_key::<Two<'static>>(&v);
        assert!(key_eq::<Two<'static>>(&k, &v));
        assert!(!key_eq::<Two<'static>>(&k, &Two { a: "x\"y", b: "z" }));
        assert!(!key_eq::<Two<'static>>(&k, &Two { a: "x", b: "\"y" }));
        assert_eq!(hash_values::<Two<'static>>(&s, &v), hash_key(&s, &k));
        let mut got = Vec::new();
        for_each_key_value(&k, |v| got.push(v.to_owned()));
        assert_eq!(got, ["x\"y", ""]);
    }

    #[test]
    fn names_are_checked() {
        assert!(is_metric_name("a:b_c9"));
        assert!(!is_metric_name("9a") && !is_metric_name("") && !is_metric_name("a-b"));
        assert!(is_label_name("le") && !is_label_name("__x") && !is_label_name("a:b"));
    }
}
