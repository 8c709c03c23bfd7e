//! Command-line options of the demo MTA (`cargo run --release --example mta -- --help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default HTTP listener of the demo.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// Usage text printed by `--help`.
pub const USAGE: &str = "\
kumo demo MTA: inject over HTTP, schedule, resolve MX, deliver (simulated or over real SMTP),
export metrics.

USAGE:
    cargo run --release --example mta -- [OPTIONS]

OPTIONS:
    --listen ADDR          HTTP listener (default 127.0.0.1:8000; port 0 picks a free port). A
                           non-loopback address needs a credential in http.toml ([http.auth])
    --tls-cert PEM         serve HTTPS with this certificate chain (PEM; with --tls-key)
    --tls-key PEM          the private key of --tls-cert (PEM, PKCS#8, PKCS#1 or SEC1)
    --tls-self-signed      serve HTTPS with a certificate for localhost made at start
    --dns SERVER:PORT      resolve MX through this DNS server instead of the in-process .test zones
    --config DIR           read the config files from DIR (default: write the embedded defaults
                           into a temporary folder and print its path)
    --deliver maildir:DIR  simulated delivery; also write every delivered message into the
                           Maildir DIR, byte for byte
    --deliver smtp         deliver for real: SMTP over TCP along the MX plan (the .test zones
                           point at loopback addresses 127.0.0.x), every session traced
    --smtp-port N          the port SMTP delivery connects to (default 25)
    --smtp-listen ADDR     also accept mail over SMTP on ADDR (for example 127.0.0.1:2525);
                           relay control in listener.toml (loopback may relay anywhere)
    --spool DIR            keep the spool in DIR (default: kumo-demo-spool in the temporary
                           folder, kept across runs; the self test uses a fresh one)
    --spool-backend KIND   database (default: one redb file) or files (one file per message)
    --fast                 run simulated time 600 times faster (the self test's profile)
    --metrics-openmetrics  answer OpenMetrics to a scraper that asks for it (Prometheus then
                           stores every counter as NAME_total; the default, text 0.0.4,
                           keeps the names that curl /metrics and KumoMTA's dashboards show)
    --selftest N           inject N recipients over HTTP, run until each is delivered or bounced,
                           print a summary and exit 0 only if every message is accounted for
    --selftest-crash N     inject N recipients into a child demo, kill -9 it mid-run, start it
                           again on the same spool, and check that every acknowledged message
                           ends exactly once
    --success W            weight of a successful delivery answer (overrides delivery.toml)
    --transient W          weight of a temporary failure (4xx) answer
    --permanent W          weight of a permanent failure (5xx) answer
    --seed N               seed of the simulation's random numbers (default: from the clock)
    -h, --help             print this text
";

/// Where delivered messages are written, besides being counted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliverTarget {
    /// `maildir:DIR`: simulated delivery; one file per delivered message in `DIR/new/`.
    Maildir(PathBuf),
    /// `smtp`: real delivery over SMTP to the MX hosts' addresses, on `--smtp-port`.
    Smtp,
}

/// TLS of the HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpTls {
    /// `--tls-cert PEM --tls-key PEM`: a certificate chain and its key from PEM files.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// `--tls-self-signed`: a certificate for `localhost` made at start.
    SelfSigned,
}

/// The default port of `--deliver smtp` (KumoMTA's egress `smtp_port`).
pub const DEFAULT_SMTP_PORT: u16 = 25;

/// Overrides of the delivery answer weights given on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProbabilityOverrides {
    /// `--success W`.
    pub success: Option<f64>,
    /// `--transient W`.
    pub transient: Option<f64>,
    /// `--permanent W`.
    pub permanent: Option<f64>,
}

impl ProbabilityOverrides {
    /// True when no weight was given.
    pub fn is_empty(&self) -> bool {
        self.success.is_none() && self.transient.is_none() && self.permanent.is_none()
    }

    /// Every delivery succeeds at once: no temporary or permanent failures.
    pub fn always_deliver() -> Self {
        Self {
            success: Some(1.0),
            transient: Some(0.0),
            permanent: Some(0.0),
        }
    }
}

/// Parsed options of the demo MTA.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MtaArgs {
    /// HTTP listener address.
    pub listen: SocketAddr,
    /// True when `--listen` was given explicitly.
    pub listen_given: bool,
    /// HTTPS instead of HTTP.
    pub tls: Option<HttpTls>,
    /// An upstream DNS server to use instead of the in-process zones.
    pub dns: Option<SocketAddr>,
    /// The config folder; `None` means "write the embedded defaults into a temporary folder".
    pub config: Option<PathBuf>,
    /// Where delivered messages are also written.
    pub deliver: Option<DeliverTarget>,
    /// The port of `--deliver smtp`.
    pub smtp_port: u16,
    /// The ESMTP listener's address.
    pub smtp_listen: Option<SocketAddr>,
    /// Run the self test with this many recipients, then exit.
    pub selftest: Option<u64>,
    /// Run the crash self test with this many recipients, then exit.
    pub selftest_crash: Option<u64>,
    /// The spool folder.
    pub spool: Option<PathBuf>,
    /// Where the spool keeps its entries.
    pub spool_backend: kumo_spool::BackendKind,
    /// Simulated time 600 times faster (the self test's profile).
    pub fast: bool,
    /// `/metrics` negotiates OpenMetrics (`--metrics-openmetrics`).
    pub metrics_openmetrics: bool,
    /// Delivery weights overriding the config file.
    pub probabilities: ProbabilityOverrides,
    /// Seed of the simulation's random numbers.
    pub seed: Option<u64>,
    /// `--help` was asked for.
    pub help: bool,
}

impl Default for MtaArgs {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listener is a valid address"),
            listen_given: false,
            tls: None,
            dns: None,
            config: None,
            deliver: None,
            smtp_port: DEFAULT_SMTP_PORT,
            smtp_listen: None,
            selftest: None,
            selftest_crash: None,
            spool: None,
            spool_backend: kumo_spool::BackendKind::default(),
            fast: false,
            metrics_openmetrics: false,
            probabilities: ProbabilityOverrides::default(),
            seed: None,
            help: false,
        }
    }
}

/// A command line that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CliError {
    /// An option that the program does not know.
    #[error("unknown option {0:?} (try --help)")]
    UnknownOption(String),
    /// An option given without its value.
    #[error("option {0} needs a value")]
    MissingValue(&'static str),
    /// A value that does not parse.
    #[error("invalid value {value:?} for {option}: {reason}")]
    InvalidValue {
        /// The option.
        option: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An option given without the one it goes with.
    #[error("option {option} needs {needs}")]
    MissingCompanion {
        /// The option given.
        option: &'static str,
        /// The option it needs.
        needs: &'static str,
    },
    /// Two options that exclude each other.
    #[error("options {0} and {1} exclude each other")]
    Conflicting(&'static str, &'static str),
}

impl MtaArgs {
    /// Parses the arguments that follow the program name.
    ///
    /// # Errors
    /// [`CliError`] for an unknown option, a missing value or a value that does not parse.
    ///
    /// # Examples
    /// ```
    /// use kumo_examples::cli::MtaArgs;
    /// let args = MtaArgs::parse(["--listen", "127.0.0.1:0", "--selftest", "100"])?;
    /// assert_eq!(args.selftest, Some(100));
    /// assert_eq!(args.listen.port(), 0);
    /// # Ok::<(), kumo_examples::cli::CliError>(())
    /// ```
    pub fn parse<I, S>(args: I) -> Result<Self, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = MtaArgs::default();
        let (mut tls_cert, mut tls_key, mut tls_self_signed) = (None, None, false);
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            // Accept both `--opt value` and `--opt=value`.
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |option: &'static str| -> Result<String, CliError> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it.next().ok_or(CliError::MissingValue(option)),
                }
            };
            match name.as_str() {
                "-h" | "--help" => out.help = true,
                "--listen" => {
                    let v = value("--listen")?;
                    out.listen = parse_addr("--listen", &v)?;
                    out.listen_given = true;
                }
                "--tls-cert" => tls_cert = Some(PathBuf::from(value("--tls-cert")?)),
                "--tls-key" => tls_key = Some(PathBuf::from(value("--tls-key")?)),
                "--tls-self-signed" => tls_self_signed = true,
                "--dns" => {
                    let v = value("--dns")?;
                    out.dns = Some(parse_addr("--dns", &v)?);
                }
                "--config" => out.config = Some(PathBuf::from(value("--config")?)),
                "--deliver" => {
                    let v = value("--deliver")?;
                    out.deliver = Some(parse_deliver(&v)?);
                }
                "--smtp-port" => {
                    let v = value("--smtp-port")?;
                    out.smtp_port = match v.parse::<u16>() {
                        Ok(p) if p > 0 => p,
                        _ => {
                            return Err(CliError::InvalidValue {
                                option: "--smtp-port",
                                value: v,
                                reason: "expected a port number from 1 to 65535",
                            });
                        }
                    };
                }
                "--smtp-listen" => {
                    let v = value("--smtp-listen")?;
                    out.smtp_listen = Some(parse_addr("--smtp-listen", &v)?);
                }
                "--spool" => out.spool = Some(PathBuf::from(value("--spool")?)),
                "--spool-backend" => {
                    let v = value("--spool-backend")?;
                    out.spool_backend = match v.as_str() {
                        "database" => kumo_spool::BackendKind::Database,
                        "files" => kumo_spool::BackendKind::Files,
                        _ => {
                            return Err(CliError::InvalidValue {
                                option: "--spool-backend",
                                value: v,
                                reason: "expected database or files",
                            });
                        }
                    };
                }
                "--fast" => out.fast = true,
                "--metrics-openmetrics" => out.metrics_openmetrics = true,
                "--selftest-crash" => {
                    let v = value("--selftest-crash")?;
                    out.selftest_crash = Some(parse_count("--selftest-crash", v)?);
                }
                "--selftest" => {
                    let v = value("--selftest")?;
                    let n: u64 = v.parse().map_err(|_| CliError::InvalidValue {
                        option: "--selftest",
                        value: v.clone(),
                        reason: "expected a whole number of recipients",
                    })?;
                    if n == 0 {
                        return Err(CliError::InvalidValue {
                            option: "--selftest",
                            value: v,
                            reason: "expected at least one recipient",
                        });
                    }
                    out.selftest = Some(n);
                }
                "--success" => {
                    out.probabilities.success =
                        Some(parse_weight("--success", &value("--success")?)?)
                }
                "--transient" => {
                    out.probabilities.transient =
                        Some(parse_weight("--transient", &value("--transient")?)?)
                }
                "--permanent" => {
                    out.probabilities.permanent =
                        Some(parse_weight("--permanent", &value("--permanent")?)?)
                }
                "--seed" => {
                    let v = value("--seed")?;
                    out.seed = Some(v.parse().map_err(|_| CliError::InvalidValue {
                        option: "--seed",
                        value: v,
                        reason: "expected a whole number",
                    })?);
                }
                _ => return Err(CliError::UnknownOption(arg)),
            }
        }
        out.tls = match (tls_cert, tls_key, tls_self_signed) {
            (None, None, false) => None,
            (None, None, true) => Some(HttpTls::SelfSigned),
            (Some(cert), Some(key), false) => Some(HttpTls::Files { cert, key }),
            (Some(_), None, false) => {
                return Err(CliError::MissingCompanion {
                    option: "--tls-cert",
                    needs: "--tls-key",
                });
            }
            (None, Some(_), false) => {
                return Err(CliError::MissingCompanion {
                    option: "--tls-key",
                    needs: "--tls-cert",
                });
            }
            (Some(_), _, true) => {
                return Err(CliError::Conflicting("--tls-self-signed", "--tls-cert"));
            }
            (None, Some(_), true) => {
                return Err(CliError::Conflicting("--tls-self-signed", "--tls-key"));
            }
        };
        Ok(out)
    }
}

fn parse_count(option: &'static str, v: String) -> Result<u64, CliError> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(CliError::InvalidValue {
            option,
            value: v,
            reason: "expected a whole number of recipients, at least 1",
        }),
    }
}

fn parse_addr(option: &'static str, v: &str) -> Result<SocketAddr, CliError> {
    v.parse().map_err(|_| CliError::InvalidValue {
        option,
        value: v.to_owned(),
        reason: "expected IP:PORT, for example 127.0.0.1:8000",
    })
}

fn parse_deliver(v: &str) -> Result<DeliverTarget, CliError> {
    if v == "smtp" {
        return Ok(DeliverTarget::Smtp);
    }
    match v.split_once(':') {
        Some(("maildir", dir)) if !dir.is_empty() => Ok(DeliverTarget::Maildir(PathBuf::from(dir))),
        _ => Err(CliError::InvalidValue {
            option: "--deliver",
            value: v.to_owned(),
            reason: "expected maildir:DIR or smtp",
        }),
    }
}

/// Seconds > 0 (fractions allowed), at most a day.
fn parse_secs(option: &'static str, v: &str) -> Result<Duration, CliError> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(CliError::InvalidValue {
            option,
            value: v.to_owned(),
            reason: "expected seconds > 0 (at most 86400)",
        }),
    }
}

fn parse_weight(option: &'static str, v: &str) -> Result<f64, CliError> {
    match v.parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
        _ => Err(CliError::InvalidValue {
            option,
            value: v.to_owned(),
            reason: "expected a finite weight >= 0",
        }),
    }
}

/// The command line of the client tools (`top`, `queue-summary`, `trace`): `--url URL` (default
/// `http://127.0.0.1:8000`), `--timeout SECS` (the longest a request may take, default 30) and
/// `--idle-timeout SECS` (the longest wait for the next bytes, default 10 or the `--timeout`
/// if smaller), the tool's own boolean flags, and its own options that take a value.
///
/// # Examples
/// ```
/// use kumo_examples::cli::ToolArgs;
/// let args = ToolArgs::parse(["--gzip", "--limit", "5"], &["--gzip", "--once"], &["--limit"])?;
/// assert_eq!(args.url, "http://127.0.0.1:8000");
/// assert!(args.flag("--gzip") && !args.flag("--once"));
/// assert_eq!(args.value::<usize>("--limit", "expected a whole number")?, Some(5));
/// assert_eq!(args.timeout, std::time::Duration::from_secs(30));
///
/// let args = ToolArgs::parse(["--timeout", "2.5"], &[], &[])?;
/// let req = args.request();
/// assert_eq!(req.deadline, Some(std::time::Duration::from_millis(2500)));
/// assert_eq!(req.timeout, Some(std::time::Duration::from_millis(2500)), "idle: at most the deadline");
/// assert!(ToolArgs::parse(["--timeout", "0"], &[], &[]).is_err());
/// # Ok::<(), kumo_examples::cli::CliError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolArgs {
    /// The demo's base URL.
    pub url: String,
    /// `--timeout`: the longest one request may take, from connecting to its last byte.
    pub timeout: Duration,
    /// `--idle-timeout`: the longest wait for the next bytes (`None`: the default, 10 s or the
    /// `--timeout` if smaller).
    pub idle_timeout: Option<Duration>,
    flags: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
}

impl ToolArgs {
    /// Parses the arguments that follow the program name; `flags` and `options` name the
    /// tool's own switches and valued options (besides `--url`).
    ///
    /// # Errors
    /// [`CliError`] for an unknown option or an option without its value.
    pub fn parse<I, S>(
        args: I,
        flags: &[&'static str],
        options: &[&'static str],
    ) -> Result<Self, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = ToolArgs {
            url: "http://127.0.0.1:8000".to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            idle_timeout: None,
            flags: Vec::new(),
            values: Vec::new(),
        };
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            if arg == "--url" {
                out.url = it.next().ok_or(CliError::MissingValue("--url"))?;
            } else if arg == "--timeout" {
                let v = it.next().ok_or(CliError::MissingValue("--timeout"))?;
                out.timeout = parse_secs("--timeout", &v)?;
            } else if arg == "--idle-timeout" {
                let v = it.next().ok_or(CliError::MissingValue("--idle-timeout"))?;
                out.idle_timeout = Some(parse_secs("--idle-timeout", &v)?);
            } else if let Some(flag) = flags.iter().find(|f| **f == arg) {
                out.flags.push(flag);
            } else if let Some(option) = options.iter().find(|o| **o == arg) {
                let v = it.next().ok_or(CliError::MissingValue(option))?;
                out.values.push((option, v));
            } else {
                return Err(CliError::UnknownOption(arg));
            }
        }
        Ok(out)
    }

    /// The default `--timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default `--idle-timeout` (when it is below `--timeout`).
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

    /// The idle timeout in force: `--idle-timeout`, else 10 s, and never more than `--timeout`.
    pub fn idle(&self) -> Duration {
        self.idle_timeout
            .unwrap_or(Self::DEFAULT_IDLE_TIMEOUT)
            .min(self.timeout)
    }

    /// A `GET` bounded by `--timeout` (whole request) and the idle timeout.
    pub fn request(&self) -> crate::http::Request<'static> {
        crate::http::Request::get_within(self.timeout, self.idle())
    }

    /// Whether the switch `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The last value given for `option`, parsed; `None` when it was not given.
    ///
    /// # Errors
    /// [`CliError::InvalidValue`] with `reason` when the value does not parse.
    pub fn value<T: std::str::FromStr>(
        &self,
        option: &'static str,
        reason: &'static str,
    ) -> Result<Option<T>, CliError> {
        let Some((_, v)) = self.values.iter().rev().find(|(o, _)| *o == option) else {
            return Ok(None);
        };
        v.parse().map(Some).map_err(|_| CliError::InvalidValue {
            option,
            value: v.clone(),
            reason,
        })
    }
}

/// An error and its causes on one line: `error: cause: cause`, for printing by a program
/// (kumo-inject's formatter, the one its `errors` entries use).
pub use kumo_inject::error_chain;

/// An error and its causes on one line, starting with `url` (put in front when the message
/// does not start with it already), as the tools print their failures.
///
/// # Examples
/// ```
/// let e = std::io::Error::other("invalid metrics text");
/// assert_eq!(
///     kumo_examples::cli::error_about("http://127.0.0.1:8000/metrics", &e),
///     "http://127.0.0.1:8000/metrics: invalid metrics text"
/// );
/// ```
pub fn error_about(url: &str, e: &dyn std::error::Error) -> String {
    let text = error_chain(e);
    if text.starts_with(url) {
        text
    } else {
        format!("{url}: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_errors_print_on_one_line() {
        let e = MtaArgs::parse(["--bogus"]).unwrap_err();
        assert_eq!(error_chain(&e), "unknown option \"--bogus\" (try --help)");
    }

    #[test]
    fn defaults() {
        let a = MtaArgs::parse(Vec::<String>::new()).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:8000");
        assert!(!a.listen_given);
        assert_eq!(a.selftest, None);
        assert!(a.probabilities.is_empty());
    }

    #[test]
    fn all_options() {
        let a = MtaArgs::parse([
            "--listen=127.0.0.1:9000",
            "--dns",
            "127.0.0.1:53",
            "--config",
            "/tmp/cfg",
            "--deliver",
            "maildir:/tmp/md",
            "--selftest",
            "10",
            "--success",
            "0.5",
            "--transient=0.25",
            "--permanent",
            "0",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(a.listen.port(), 9000);
        assert!(a.listen_given);
        assert_eq!(a.dns.unwrap().port(), 53);
        assert_eq!(a.config.as_deref(), Some(std::path::Path::new("/tmp/cfg")));
        assert_eq!(a.deliver, Some(DeliverTarget::Maildir("/tmp/md".into())));
        assert_eq!(a.selftest, Some(10));
        assert_eq!(a.probabilities.success, Some(0.5));
        assert_eq!(a.probabilities.transient, Some(0.25));
        assert_eq!(a.probabilities.permanent, Some(0.0));
        assert_eq!(a.seed, Some(7));
        let a = MtaArgs::parse([
            "--deliver",
            "smtp",
            "--smtp-port=2525",
            "--smtp-listen",
            "127.0.0.1:2526",
        ])
        .unwrap();
        assert_eq!(a.smtp_listen.unwrap().port(), 2526);
        assert_eq!(a.deliver, Some(DeliverTarget::Smtp));
        assert_eq!(a.smtp_port, 2525);
        assert_eq!(MtaArgs::parse(["--fast"]).unwrap().smtp_port, 25);
        assert_eq!(MtaArgs::parse(["--fast"]).unwrap().tls, None);
        assert_eq!(
            MtaArgs::parse(["--tls-cert", "c.pem", "--tls-key=k.pem"])
                .unwrap()
                .tls,
            Some(HttpTls::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert_eq!(
            MtaArgs::parse(["--tls-self-signed"]).unwrap().tls,
            Some(HttpTls::SelfSigned)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            MtaArgs::parse(["--bogus"]).unwrap_err(),
            CliError::UnknownOption("--bogus".into())
        );
        assert_eq!(
            MtaArgs::parse(["--listen"]).unwrap_err(),
            CliError::MissingValue("--listen")
        );
        for bad in ["0", "65536", "x"] {
            assert!(matches!(
                MtaArgs::parse(["--smtp-port", bad]).unwrap_err(),
                CliError::InvalidValue {
                    option: "--smtp-port",
                    ..
                }
            ));
        }
        assert!(matches!(
            MtaArgs::parse(["--deliver", "mbox:/x"]).unwrap_err(),
            CliError::InvalidValue {
                option: "--deliver",
                ..
            }
        ));
        assert!(matches!(
            MtaArgs::parse(["--selftest", "0"]).unwrap_err(),
            CliError::InvalidValue {
                option: "--selftest",
                ..
            }
        ));
        assert!(matches!(
            MtaArgs::parse(["--success", "NaN"]).unwrap_err(),
            CliError::InvalidValue {
                option: "--success",
                ..
            }
        ));
        assert_eq!(
            MtaArgs::parse(["--tls-cert", "c.pem"]).unwrap_err(),
            CliError::MissingCompanion {
                option: "--tls-cert",
                needs: "--tls-key"
            }
        );
        assert_eq!(
            MtaArgs::parse(["--tls-self-signed", "--tls-key=k.pem"]).unwrap_err(),
            CliError::Conflicting("--tls-self-signed", "--tls-key")
        );
        assert!(matches!(
            MtaArgs::parse(["--listen", "localhost"]).unwrap_err(),
            CliError::InvalidValue {
                option: "--listen",
                ..
            }
        ));
    }
}
