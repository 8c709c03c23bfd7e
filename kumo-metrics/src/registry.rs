//! The [`Registry`] of metric families and the typed [`Family`] handle.

use crate::family::{FamilyCore, MetricType};
use crate::labels::{LabelSet, is_label_name, is_metric_name};
use crate::metric::Metric;
use crate::scrape::{Scrape, ScrapeOptions};
use parking_lot::RwLock;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Why a family could not be registered. Permanent: the same call fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is repeated, or is
    /// reserved (`le` for histograms).
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A family with this name is already registered, or the name clashes with the sample
    /// names of one (`x` against `x_total`, `x_bucket`, `x_sum`, `x_count`, `x_created`), which
    /// would make the output ambiguous to parsers.
    #[error("metric {0:?} is already registered or clashes with a registered one")]
    Duplicate(String),
    /// Histogram bounds must be finite and strictly increasing.
    #[error("histogram bucket bounds must be finite and strictly increasing")]
    InvalidBuckets,
}

/// A set of metric families, written in registration order by a [`Scrape`].
///
/// Cloning is cheap (an `Arc`); clones share the families.
///
/// # Examples
///
/// ```
/// use kumo_metrics::{Registry, ScrapeOptions};
/// let registry = Registry::new();
/// let up = registry.family("up", "whether the server runs").gauge::<()>()?.get_or_create(&());
/// up.set(1);
/// let text: Vec<u8> = registry.scrape(&ScrapeOptions::text()).flatten().collect();
/// assert_eq!(text, b"# HELP up whether the server runs\n# TYPE up gauge\nup 1\n");
/// # Ok::<(), kumo_metrics::RegisterError>(())
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<RwLock<Vec<Arc<FamilyCore>>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.families.read().len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts registering a family called `name` with this HELP text.
    pub fn family(&self, name: impl Into<String>, help: impl Into<String>) -> FamilyBuilder<'_> {
        FamilyBuilder {
            registry: self,
            name: name.into(),
            help: help.into(),
            weak: false,
        }
    }

    /// Streams the registry in the requested format, one chunk at a time.
    pub fn scrape(&self, options: &ScrapeOptions) -> Scrape {
        Scrape::new(self.families.read().clone(), options)
    }

    /// The number of registered families.
    pub fn len(&self) -> usize {
        self.families.read().len()
    }

    /// Whether no family is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn register<L: LabelSet, M: Metric>(
        &self,
        b: FamilyBuilder<'_>,
        bounds: Box<[f64]>,
    ) -> Result<Family<L, M>, RegisterError> {
        if !is_metric_name(&b.name) {
            return Err(RegisterError::InvalidMetricName(b.name));
        }
        for (i, n) in L::NAMES.iter().enumerate() {
            let reserved = M::METRIC_TYPE == MetricType::Histogram && *n == "le";
            if !is_label_name(n) || reserved || L::NAMES[..i].contains(n) {
                return Err(RegisterError::InvalidLabelName((*n).to_owned()));
            }
        }
        let mut families = self.families.write();
        if families.iter().any(|f| clashes(&f.name, &b.name)) {
            return Err(RegisterError::Duplicate(b.name));
        }
        let core = Arc::new(FamilyCore::new(
            b.name,
            b.help,
            M::METRIC_TYPE,
            M::VALUE_KIND,
            L::NAMES,
            bounds,
            b.weak,
        ));
        families.push(core.clone());
        Ok(Family {
            core,
            _marker: PhantomData,
        })
    }
}

/// Whether two family names are equal or one is the other plus a sample suffix.
fn clashes(a: &str, b: &str) -> bool {
    const SUFFIXES: [&str; 5] = ["_total", "_bucket", "_sum", "_count", "_created"];
    let plus_suffix = |long: &str, short: &str| {
        long.strip_prefix(short)
            .is_some_and(|rest| SUFFIXES.contains(&rest))
    };
    a == b || plus_suffix(a, b) || plus_suffix(b, a)
}

/// Registers one family; made by [`Registry::family`].
#[derive(Debug)]
#[must_use = "a builder registers nothing until a kind is chosen"]
pub struct FamilyBuilder<'r> {
    registry: &'r Registry,
    name: String,
    help: String,
    weak: bool,
}

impl FamilyBuilder<'_> {
    /// Makes the family's series weakly owned: a series exists while at least one handle to it
    /// does. When the last handle is dropped the series vanishes from the output and its memory
    /// is freed. Without this, series live as long as the registry.
    pub fn weak(mut self) -> Self {
        self.weak = true;
        self
    }

    /// Registers a family of [`Counter`](crate::Counter)s.
    ///
    /// # Errors
    ///
    /// [`RegisterError`] for an invalid or duplicate name, or an invalid label name.
    pub fn counter<L: LabelSet>(self) -> Result<Family<L, crate::Counter>, RegisterError> {
        self.registry.register(self, Box::new([]))
    }

    /// Registers a family of signed [`Gauge`](crate::Gauge)s.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter).
    pub fn gauge<L: LabelSet>(self) -> Result<Family<L, crate::Gauge>, RegisterError> {
        self.registry.register(self, Box::new([]))
    }

    /// Registers a family of [`FloatGauge`](crate::FloatGauge)s.
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter).
    pub fn float_gauge<L: LabelSet>(self) -> Result<Family<L, crate::FloatGauge>, RegisterError> {
        self.registry.register(self, Box::new([]))
    }

    /// Registers a family of [`Histogram`](crate::Histogram)s with these bucket upper bounds
    /// (the `+Inf` bucket is implicit).
    ///
    /// # Errors
    ///
    /// As [`counter`](Self::counter), plus [`RegisterError::InvalidBuckets`] when a bound is not
    /// finite or the bounds are not strictly increasing, and [`RegisterError::InvalidLabelName`]
    /// for a label called `le`.
    pub fn histogram<L: LabelSet>(
        self,
        bounds: &[f64],
    ) -> Result<Family<L, crate::Histogram>, RegisterError> {
        if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(RegisterError::InvalidBuckets);
        }
        self.registry.register(self, bounds.into())
    }
}

/// A registered family: series of kind `M` keyed by the typed label set `L`.
///
/// Cloning is cheap and shares the family.
///
/// # Examples
///
/// ```
/// kumo_metrics::label_set! { pub struct Queue { queue } }
/// let registry = kumo_metrics::Registry::new();
/// let ready = registry.family("ready_count", "ready messages").weak().gauge::<Queue<'static>>()?;
/// let g = ready.get_or_create(&Queue { queue: "example.com" });
/// g.add(3);
/// assert_eq!(ready.get_or_create(&Queue { queue: "example.com" }).get(), 3);
/// drop(g);
/// assert_eq!(ready.len(), 0); // weak: the last handle is gone, so is the series
/// # Ok::<(), kumo_metrics::RegisterError>(())
/// ```
pub struct Family<L, M> {
    core: Arc<FamilyCore>,
    _marker: PhantomData<fn(L) -> M>,
}

impl<L, M> Clone for Family<L, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            _marker: PhantomData,
        }
    }
}

impl<L, M> fmt::Debug for Family<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.core.name)
            .field("type", &self.core.metric_type)
            .field("labels", &self.core.label_names)
            .field("weak", &self.core.weak)
            .finish()
    }
}

impl<L: LabelSet, M: Metric> Family<L, M> {
    /// The handle to the series with these label values, created if missing.
    ///
    /// Finding an existing series takes a read lock and does not allocate; creating one
    /// allocates its key once. During a scrape a creation waits at most one scrape batch.
    pub fn get_or_create(&self, labels: &L::Values<'_>) -> M {
        M::from_series(self.core.get_or_create::<L>(labels))
    }

    /// The number of live series.
    pub fn len(&self) -> usize {
        self.core.live()
    }

    /// Whether the family has no live series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The family's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }
}
