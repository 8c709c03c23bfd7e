//! The Redis backend: one GCRA state per key in Redis, shared by every process that uses the same
//! server and key prefix.
//!
//! The check runs atomically inside Redis, with the *server's* clock (`TIME`), so processes whose
//! clocks disagree still share one timeline. Where the server has the redis-cell module,
//! `CL.THROTTLE` is used instead of the script (detected once, at construction).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::{KeyBy, LimitMode, RateLimitConfig, RateLimitConfigError};
use super::gcra::{Gcra, GcraDecision};
use super::key::KeyRef;
use super::limiter::{Backend, BackendAnswer, RecipientRateLimit, duration_ns};
use super::local::{DEFAULT_MAX_KEYS, LocalLimiter};
use super::outcome::RateLimited;
use super::stats::bump;

/// GCRA in Redis, in microseconds (Lua numbers are doubles: microseconds since 1970 fit exactly,
/// nanoseconds would not).
///
/// KEYS[1]: the key. ARGV: emission interval T (µs, may be fractional), burst, quantity, the
/// longest wait allowed (µs, 0 in reject mode).
/// Returns {admitted (1|0), wait_us, remaining, retry_after_us, reset_after_us}.
/// The TAT is stored rounded up to a whole microsecond (never admitting more than asked), with a
/// TTL of the time until the key is idle, so Redis drops idle keys itself.
const GCRA_LUA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local emission = tonumber(ARGV[1])
local tolerance = emission * tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then tat = now end
local new_tat = tat + emission * n
local wait = new_tat - tolerance - now
if wait < 0 then wait = 0 end
if wait <= max_wait then
  new_tat = math.ceil(new_tat)
  local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
  local remaining = math.floor((now + wait + tolerance - new_tat) / emission)
  if remaining < 0 then remaining = 0 end
  return {1, math.ceil(wait), remaining, 0, new_tat - now}
end
local remaining = math.floor((now + tolerance - tat) / emission)
if remaining < 0 then remaining = 0 end
return {0, 0, remaining, math.ceil(wait), math.ceil(tat - now)}
";

/// What to do when Redis cannot be reached or does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum UnavailablePolicy {
    /// Admit the request without a check (availability first). Oversized batches are still
    /// refused.
    FailOpen,
    /// Refuse with [`RateLimited::Unavailable`] (HTTP 503).
    FailClosed,
    /// Check against a limiter in this process with this configuration (typically the shared
    /// limit divided by the number of processes), in the same mode and keying.
    FallbackLocal(RateLimitConfig),
}

/// How to reach Redis and what to do when it is unavailable.
///
/// # Examples
///
/// ```
/// use kumo_inject::ratelimit::{RedisOptions, UnavailablePolicy};
/// use std::time::Duration;
///
/// let mut options = RedisOptions::new("redis://127.0.0.1:6379/");
/// options.timeout = Duration::from_millis(20);
/// options.on_unavailable = UnavailablePolicy::FailClosed;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The server, as a `redis://` URL.
    pub url: String,
    /// The prefix of every key; processes with the same prefix (and the same limit) share a
    /// budget. Default `kumo-inject:rcpt`.
    pub key_prefix: String,
    /// The longest one check may take before the unavailable policy applies. Default 100 ms.
    pub timeout: Duration,
    /// The longest the initial connection may take ([`RecipientRateLimit::redis`]). Default 5 s.
    pub connect_timeout: Duration,
    /// What to do when Redis fails or times out. Default [`UnavailablePolicy::FailOpen`].
    pub on_unavailable: UnavailablePolicy,
    /// After a failure, how long checks skip Redis and apply the policy at once (so an outage
    /// does not add `timeout` to every request); the first check after it tries Redis again.
    /// Default 1 s.
    pub retry_backoff: Duration,
    /// Use redis-cell's `CL.THROTTLE` when the server has it (and the period is whole seconds).
    /// Default `true`.
    pub use_redis_cell: bool,
    /// The bound on keys tracked by the local fallback. Default 100,000.
    pub max_fallback_keys: usize,
}

impl RedisOptions {
    /// Options for the server at `url`, with the defaults above.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "kumo-inject:rcpt".to_owned(),
            timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(5),
            on_unavailable: UnavailablePolicy::FailOpen,
            retry_backoff: Duration::from_secs(1),
            use_redis_cell: true,
            max_fallback_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// Why a Redis limiter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisLimitError {
    /// The rate-limit configuration is unusable. Permanent.
    #[error("invalid rate limit configuration")]
    Config(#[source] RateLimitConfigError),
    /// The local fallback's configuration is unusable. Permanent.
    #[error("invalid fallback rate limit configuration")]
    FallbackConfig(#[source] RateLimitConfigError),
    /// The URL is not a valid Redis URL. Permanent.
    #[error("invalid redis url")]
    Url(#[source] redis::RedisError),
    /// Connecting (or loading the script) failed. Transient.
    #[error("cannot connect to redis")]
    Connect(#[source] redis::RedisError),
    /// Connecting took longer than `connect_timeout`. Transient.
    #[error("redis connection timed out after {0:?}")]
    ConnectTimeout(Duration),
}

/// Why one check could not be made in Redis: the `source` of
/// [`RateLimited::Unavailable`]. Transient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBackendError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis request failed")]
    Redis(#[source] redis::RedisError),
    /// Redis did not answer within the timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis failed recently; it is not tried again until the retry backoff has passed.
    #[error("redis is backing off after a recent failure")]
    Backoff,
    /// Redis answered something that is not a rate-limit reply.
    #[error("unexpected reply from redis")]
    BadReply,
}

/// redis-cell's parameters, when `CL.THROTTLE` is used.
#[derive(Debug, Clone, Copy)]
struct CellParams {
    max_burst: u64,
    count: u64,
    period_secs: u64,
}

/// The Redis backend held by a [`RecipientRateLimit`].
pub(crate) struct RedisBackend {
    conn: ConnectionManager,
    script: redis::Script,
    cell: Option<CellParams>,
    /// `{prefix}:{limit}:{burst}:{period_ns}:` (or with `cell:` after the prefix).
    key_prefix: String,
    emission_us: String,
    burst: u64,
    timeout: Duration,
    policy: UnavailablePolicy,
    fallback: Option<LocalLimiter>,
    backoff_ns: u64,
    /// Local-clock nanoseconds until which Redis is not tried (0: try).
    down_until_ns: AtomicU64,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("key_prefix", &self.key_prefix)
            .field("redis_cell", &self.cell.is_some())
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RecipientRateLimit {
    /// A limiter whose state lives in Redis, shared by every process that uses the same server,
    /// key prefix and configuration.
    ///
    /// It connects once (a [`ConnectionManager`] that reconnects by itself afterwards), loads the
    /// GCRA script and checks whether the server has redis-cell's `CL.THROTTLE`.
    ///
    /// # Errors
    ///
    /// [`RedisLimitError`] when a configuration is unusable, the URL is invalid, or the server
    /// cannot be reached within `options.connect_timeout`. Once built, an unreachable server is
    /// handled per `options.on_unavailable` instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use kumo_inject::ratelimit::{RedisOptions, UnavailablePolicy};
    /// use kumo_inject::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RecipientRateLimit};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut options = RedisOptions::new("redis://127.0.0.1:6379/");
    /// options.on_unavailable = UnavailablePolicy::FallbackLocal(RateLimitConfig::per_second(3_000));
    /// let limit = RecipientRateLimit::redis(
    ///     RateLimitConfig::per_second(10_000),
    ///     LimitMode::Reject,
    ///     KeyBy::Global,
    ///     options,
    /// )
    /// .await?;
    /// limit.admit(&RateKeyContext::default(), 250).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn redis(
        config: RateLimitConfig,
        mode: LimitMode,
        key_by: KeyBy,
        options: RedisOptions,
    ) -> Result<Self, RedisLimitError> {
        let gcra = Gcra::new(&config).map_err(RedisLimitError::Config)?;
        let fallback = match options.on_unavailable {
            UnavailablePolicy::FallbackLocal(fb) => {
                if options.max_fallback_keys == 0 {
                    return Err(RedisLimitError::FallbackConfig(
                        RateLimitConfigError::ZeroKeyCapacity,
                    ));
                }
                // A request over the fallback's burst (but within the shared one) is refused
                // with BatchTooLarge while the fallback is in use.
                let g = Gcra::new(&fb).map_err(RedisLimitError::FallbackConfig)?;
                Some(LocalLimiter::new(g, options.max_fallback_keys))
            }
            UnavailablePolicy::FailOpen | UnavailablePolicy::FailClosed => None,
        };
        let client = redis::Client::open(options.url.as_str()).map_err(RedisLimitError::Url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(options.timeout.max(Duration::from_millis(1)))
            .set_response_timeout(options.timeout.max(Duration::from_millis(1)))
            .set_number_of_retries(2)
            .set_max_delay(200);
        let script = redis::Script::new(GCRA_LUA);
        let connect = async {
            let mut conn = ConnectionManager::new_with_config(client, manager_config).await?;
            script.prepare_invoke().load_async(&mut conn).await?;
            let cell = if options.use_redis_cell {
                has_redis_cell(&mut conn).await
            } else {
                false
            };
            Ok::<_, redis::RedisError>((conn, cell))
        };
        let (conn, has_cell) = tokio::time::timeout(options.connect_timeout, connect)
            .await
            .map_err(|_| RedisLimitError::ConnectTimeout(options.connect_timeout))?
            .map_err(RedisLimitError::Connect)?;
        let period_ns = duration_ns(config.period);
        let cell = (has_cell && period_ns.is_multiple_of(1_000_000_000)).then_some(CellParams {
            max_burst: config.burst - 1,
            count: config.limit,
            period_secs: period_ns / 1_000_000_000,
        });
        let key_prefix = format!(
            "{}:{}{}:{}:{}:",
            options.key_prefix,
            if cell.is_some() { "cell:" } else { "" },
            config.limit,
            config.burst,
            period_ns
        );
        let backend = RedisBackend {
            conn,
            script,
            cell,
            key_prefix,
            emission_us: format!("{}", gcra.emission_ns() as f64 / 1000.0),
            burst: gcra.burst(),
            timeout: options.timeout,
            policy: options.on_unavailable,
            fallback,
            backoff_ns: duration_ns(options.retry_backoff),
            down_until_ns: AtomicU64::new(0),
        };
        Ok(Self::from_backend(
            config,
            mode,
            key_by,
            gcra,
            Backend::Redis(Box::new(backend)),
        ))
    }

    /// Whether the Redis backend uses redis-cell's `CL.THROTTLE` (`false`: the Lua script, or a
    /// local limiter).
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn uses_redis_cell(&self) -> bool {
        match self.backend() {
            Backend::Redis(r) => r.cell.is_some(),
            Backend::Local(_) => false,
        }
    }
}

/// Whether the server knows `CL.THROTTLE`: `COMMAND INFO` answers nil for an unknown command.
async fn has_redis_cell(conn: &mut ConnectionManager) -> bool {
    let reply: redis::RedisResult<redis::Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("CL.THROTTLE")
        .query_async(conn)
        .await;
    matches!(reply, Ok(redis::Value::Array(items)) if items.first().is_some_and(|v| !matches!(v, redis::Value::Nil)))
}

impl RedisBackend {
    pub(crate) fn fallback(&self) -> Option<&LocalLimiter> {
        self.fallback.as_ref()
    }

    /// One check in Redis, or the unavailable policy.
    pub(crate) async fn check(
        &self,
        limiter: &RecipientRateLimit,
        key: KeyRef<'_>,
        n: u64,
        max_wait_ns: u64,
    ) -> Result<BackendAnswer, RateLimited> {
        let c = limiter.counters();
        let now = limiter.now_ns();
        if now < self.down_until_ns.load(Ordering::Relaxed) {
            bump(&c.backend_skipped);
            return self.unavailable(limiter, key, n, max_wait_ns, RedisBackendError::Backoff);
        }
        let redis_key = format!("{}{}", self.key_prefix, key.scope());
        let result = match self.cell {
            Some(cell) => self.cell_check(&redis_key, cell, n, max_wait_ns).await,
            None => self.script_check(&redis_key, n, max_wait_ns).await,
        };
        match result {
            Ok(answer) => {
                bump(&c.backend_ok);
                self.down_until_ns.store(0, Ordering::Relaxed);
                Ok(answer)
            }
            Err(e) => {
                match e {
                    RedisBackendError::Timeout(_) => bump(&c.backend_timeouts),
                    _ => bump(&c.backend_errors),
                }
                self.down_until_ns.store(
                    limiter.now_ns().saturating_add(self.backoff_ns),
                    Ordering::Relaxed,
                );
                self.unavailable(limiter, key, n, max_wait_ns, e)
            }
        }
    }

    fn unavailable(
        &self,
        limiter: &RecipientRateLimit,
        key: KeyRef<'_>,
        n: u64,
        max_wait_ns: u64,
        error: RedisBackendError,
    ) -> Result<BackendAnswer, RateLimited> {
        let c = limiter.counters();
        match (&self.policy, &self.fallback) {
            (UnavailablePolicy::FallbackLocal(_), Some(local)) => {
                bump(&c.fell_back);
                Ok(BackendAnswer {
                    decision: limiter.local_check(local, key, n, max_wait_ns),
                    waited: Duration::ZERO,
                })
            }
            (UnavailablePolicy::FailOpen, _) => {
                bump(&c.failed_open);
                Ok(BackendAnswer {
                    decision: GcraDecision::Admit {
                        wait_ns: 0,
                        remaining: self.burst.saturating_sub(n),
                        reset_after_ns: 0,
                    },
                    waited: Duration::ZERO,
                })
            }
            _ => {
                bump(&c.failed_closed);
                Err(RateLimited::Unavailable {
                    source: Box::new(error),
                })
            }
        }
    }

    async fn with_timeout<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisBackendError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_timeout() => Err(RedisBackendError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(RedisBackendError::Redis(e)),
            Err(_) => Err(RedisBackendError::Timeout(self.timeout)),
        }
    }

    async fn script_check(
        &self,
        redis_key: &str,
        n: u64,
        max_wait_ns: u64,
    ) -> Result<BackendAnswer, RedisBackendError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(redis_key);
        invocation
            .arg(&self.emission_us)
            .arg(self.burst)
            .arg(n)
            .arg(max_wait_ns / 1000);
        let reply: Vec<i64> = self
            .with_timeout(invocation.invoke_async(&mut conn))
            .await?;
        Ok(BackendAnswer {
            decision: script_decision(&reply)?,
            waited: Duration::ZERO,
        })
    }

    /// `CL.THROTTLE` cannot reserve a future slot, so in wait mode this sleeps and asks again
    /// (as KumoMTA does), within `max_wait`.
    async fn cell_check(
        &self,
        redis_key: &str,
        cell: CellParams,
        n: u64,
        max_wait_ns: u64,
    ) -> Result<BackendAnswer, RedisBackendError> {
        let mut waited = Duration::ZERO;
        let max_wait = Duration::from_nanos(max_wait_ns);
        loop {
            let mut conn = self.conn.clone();
            let mut cmd = redis::cmd("CL.THROTTLE");
            cmd.arg(redis_key)
                .arg(cell.max_burst)
                .arg(cell.count)
                .arg(cell.period_secs)
                .arg(n);
            let reply: Vec<i64> = self.with_timeout(cmd.query_async(&mut conn)).await?;
            let decision = cell_decision(&reply)?;
            match decision {
                GcraDecision::Deny { retry_after_ns, .. } => {
                    let sleep = Duration::from_nanos(retry_after_ns).max(Duration::from_millis(10));
                    if waited + sleep > max_wait {
                        return Ok(BackendAnswer { decision, waited });
                    }
                    tokio::time::sleep(sleep).await;
                    waited += sleep;
                }
                _ => return Ok(BackendAnswer { decision, waited }),
            }
        }
    }
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The script's reply: {admitted, wait_us, remaining, retry_after_us, reset_after_us}.
fn script_decision(reply: &[i64]) -> Result<GcraDecision, RedisBackendError> {
    let &[admitted, wait_us, remaining, retry_us, reset_us] = reply else {
        return Err(RedisBackendError::BadReply);
    };
    let us = |v: i64| non_negative(v).saturating_mul(1000);
    Ok(match admitted {
        1 => GcraDecision::Admit {
            wait_ns: us(wait_us),
            remaining: non_negative(remaining),
            reset_after_ns: us(reset_us),
        },
        0 => GcraDecision::Deny {
            retry_after_ns: us(retry_us),
            remaining: non_negative(remaining),
            reset_after_ns: us(reset_us),
        },
        _ => return Err(RedisBackendError::BadReply),
    })
}

/// redis-cell's reply: {limited, limit, remaining, retry_after_s (-1 when allowed), reset_after_s}.
fn cell_decision(reply: &[i64]) -> Result<GcraDecision, RedisBackendError> {
    let &[limited, _limit, remaining, retry_s, reset_s] = reply else {
        return Err(RedisBackendError::BadReply);
    };
    let s = |v: i64| non_negative(v).saturating_mul(1_000_000_000);
    Ok(match limited {
        0 => GcraDecision::Admit {
            wait_ns: 0,
            remaining: non_negative(remaining),
            reset_after_ns: s(reset_s),
        },
        1 => GcraDecision::Deny {
            retry_after_ns: s(retry_s),
            remaining: non_negative(remaining),
            reset_after_ns: s(reset_s),
        },
        _ => return Err(RedisBackendError::BadReply),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replies_map_to_decisions() {
        assert_eq!(
            script_decision(&[1, 250, 3, 0, 4000]).unwrap(),
            GcraDecision::Admit {
                wait_ns: 250_000,
                remaining: 3,
                reset_after_ns: 4_000_000
            }
        );
        assert_eq!(
            script_decision(&[0, 0, 0, 1500, 9000]).unwrap(),
            GcraDecision::Deny {
                retry_after_ns: 1_500_000,
                remaining: 0,
                reset_after_ns: 9_000_000
            }
        );
        assert!(script_decision(&[2, 0, 0, 0, 0]).is_err());
        assert!(script_decision(&[1, 0]).is_err());
    }

    #[test]
    fn cell_replies_map_to_decisions() {
        assert_eq!(
            cell_decision(&[0, 16, 15, -1, 2]).unwrap(),
            GcraDecision::Admit {
                wait_ns: 0,
                remaining: 15,
                reset_after_ns: 2_000_000_000
            }
        );
        assert_eq!(
            cell_decision(&[1, 16, 0, 1, 3]).unwrap(),
            GcraDecision::Deny {
                retry_after_ns: 1_000_000_000,
                remaining: 0,
                reset_after_ns: 3_000_000_000
            }
        );
        assert!(cell_decision(&[]).is_err());
    }
}
