//! A KumoMTA-compatible batch HTTP injection API: validation, per-recipient templating, MIME building, deferred generation, and rate limits.
#![forbid(unsafe_code)] // nothing here needs it
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)] // the public surface is documented and deliberate
#![cfg_attr(docsrs, feature(doc_cfg))]
//!
//! CRATE_DOC_PLACEHOLDER

mod address;
mod attachment;
mod batch;
mod error;
mod host;
#[cfg(feature = "axum")]
mod http;
#[cfg(feature = "tokio")]
mod injector;
mod job_store;
mod mime;
mod model;
mod template;

pub use address::AddressError;
pub use batch::{
    Batch, BatchId, GenerateContext, GenerateOptions, GeneratedMessage, InvalidBatchId,
};
pub use error::{AttachmentError, MessageError, RecipientError, RequestError};
pub use host::{
    Admission, AlwaysAdmit, BatchReport, Durability, MessageSink, RecipientFailure, Refusal,
    SinkError,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use http::{BATCH_ID_HEADER, INJECT_PATH, RouterConfig, router};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use injector::{
    InjectError, Injected, Injector, InjectorBuilder, InjectorConfig, NoRuntime, Overload,
    RequestContext,
};
pub use job_store::{
    JobStore, JobStoreError, MemoryJobStore, PendingJob, RecipientOutcome, StoredJob,
};
/// The template engine, re-exported because its error type appears in [`RequestError`] and
/// [`RecipientError`].
pub use minijinja;
pub use model::{
    Attachment, Builder, Content, FromHeader, InjectRequest, InjectResponse, ParseError, Recipient,
    TemplateDialect, TraceHeaders,
};

pub mod ratelimit;
pub use ratelimit::{
    Admitted, KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};
