//! An in-process authoritative DNS server on loopback that serves zone text (feature `server`).
//!
//! For tests and demos: start it, point a [`HickoryResolver`] at [`LoopbackDnsServer::addr`],
//! inject faults per name, and count the queries it receives.

use crate::error::{LookupError, ZoneError};
use crate::hickory::{HickoryOptions, HickoryResolver};
use crate::resolver::RecordType;
use crate::zone::Fault;
use crate::zone_text;
use hashbrown::HashMap;
use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::{Header, HeaderCounts, MessageType, Metadata, ResponseCode};
use hickory_server::proto::rr::{LowerName, RecordType as HRecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use parking_lot::Mutex;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a [`LoopbackDnsServer`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The zone text could not be loaded.
    #[error("cannot load zone")]
    Zone(#[from] ZoneError),
    /// Binding the loopback sockets failed.
    #[error("cannot bind loopback socket")]
    Bind(#[source] std::io::Error),
}

#[derive(Debug, Default)]
struct State {
    faults: Mutex<HashMap<String, Fault>>,
    total: AtomicU64,
    per_name: Mutex<HashMap<(String, u16), u64>>,
}

struct Handler {
    catalog: Catalog,
    state: Arc<State>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.state.total.fetch_add(1, Ordering::Relaxed);
        let (name, qtype) = request
            .queries
            .queries()
            .first()
            .map(|q| (trim(&q.name().to_string()), u16::from(q.query_type())))
            .unwrap_or_default();
        *self
            .state
            .per_name
            .lock()
            .entry((name.clone(), qtype))
            .or_insert(0) += 1;
        let fault = self.state.faults.lock().get(&name).copied();
        let code = match fault {
            None | Some(Fault::Bogus) => {
                return self
                    .catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await;
            }
            Some(Fault::ServFail) => ResponseCode::ServFail,
            Some(Fault::Refused) => ResponseCode::Refused,
            Some(Fault::Timeout) => {
                // Never answer: report what we did not send.
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
        };
        let response =
            MessageResponseBuilder::new(&request.queries, None).error_msg(&request.metadata, code);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => {
                let mut metadata = Metadata::new(
                    request.metadata.id,
                    MessageType::Response,
                    request.metadata.op_code,
                );
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

fn trim(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Builds a [`LoopbackDnsServer`].
#[derive(Debug, Default)]
pub struct LoopbackDnsServerBuilder {
    zones: Vec<String>,
    faults: Vec<(String, Fault)>,
}

impl LoopbackDnsServerBuilder {
    /// Adds zone text (master-file syntax; each SOA starts a zone, without an SOA one is
    /// synthesized at `$ORIGIN` with a 30 s negative TTL; `$TTL` defaults to 300). Serve `.test`
    /// names: hickory answers `.invalid` and other special-use names itself.
    pub fn zone_text(mut self, text: &str) -> Self {
        self.zones.push(text.to_owned());
        self
    }

    /// Injects a fault for `name` from the start. [`Fault::Timeout`] never answers;
    /// [`Fault::Bogus`] is not modelled by this server (it answers normally); it serves zones
    /// unsigned, so a resolver validating from a trust anchor above them (feature `dnssec`)
    /// sees bogus answers.
    pub fn fault(mut self, name: &str, fault: Fault) -> Self {
        self.faults.push((trim(name), fault));
        self
    }

    /// Binds UDP and TCP on `127.0.0.1` (one ephemeral port for both) and starts serving on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ServerError`] when a zone does not load or the sockets cannot be bound.
    pub async fn start(self) -> Result<LoopbackDnsServer, ServerError> {
        let mut catalog = Catalog::new();
        for text in &self.zones {
            for zone in zone_text::parse(text, None)? {
                let mut handler = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
                    zone.origin.clone(),
                    ZoneType::Primary,
                    AxfrPolicy::Deny,
                );
                for r in zone.records {
                    handler.upsert_mut(r, 1);
                }
                catalog.upsert(LowerName::new(&zone.origin), vec![Arc::new(handler)]);
            }
        }
        let state = Arc::new(State::default());
        {
            let mut f = state.faults.lock();
            for (n, fault) in self.faults {
                f.insert(n, fault);
            }
        }
        // One port for UDP and TCP; retry when the TCP side of the UDP port is taken.
        let mut last_err = None;
        for _ in 0..16 {
            let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(ServerError::Bind)?;
            let addr = udp.local_addr().map_err(ServerError::Bind)?;
            let tcp = match tokio::net::TcpListener::bind(addr).await {
                Ok(t) => t,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let mut server = Server::new(Handler {
                catalog,
                state: state.clone(),
            });
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
            return Ok(LoopbackDnsServer {
                addr,
                state,
                server: Some(server),
            });
        }
        Err(ServerError::Bind(last_err.unwrap_or_else(|| {
            std::io::Error::other("no free loopback port")
        })))
    }
}

/// An authoritative DNS server for zone text, on `127.0.0.1` with an ephemeral port, running
/// inside the current tokio runtime (hickory-server). Stops on [`shutdown`](Self::shutdown) or
/// when dropped.
///
/// # Examples
///
/// ```
/// use kumo_dns::server::LoopbackDnsServer;
/// use kumo_dns::{Fault, HickoryOptions, MailExchanger, MxError};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
/// let server = LoopbackDnsServer::builder()
///     .zone_text("$ORIGIN example.test.\n@ MX 10 mx\nmx A 192.0.2.1\n")
///     .fault("broken.example.test", Fault::ServFail)
///     .start()
///     .await?;
/// let resolver = server.resolver(HickoryOptions::default().timeout(Duration::from_millis(300)))?;
/// let mx = MailExchanger::resolve(&resolver, "example.test").await?;
/// assert_eq!(mx.hosts()[0].name(), "mx.example.test");
/// let err = MailExchanger::resolve(&resolver, "broken.example.test").await.unwrap_err();
/// assert!(matches!(err, MxError::Temporary { .. }));
/// assert!(server.queries() >= 3);
/// server.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LoopbackDnsServer {
    addr: SocketAddr,
    state: Arc<State>,
    server: Option<Server<Handler>>,
}

impl std::fmt::Debug for LoopbackDnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackDnsServer")
            .field("addr", &self.addr)
            .field("queries", &self.queries())
            .finish_non_exhaustive()
    }
}

impl LoopbackDnsServer {
    /// A builder.
    pub fn builder() -> LoopbackDnsServerBuilder {
        LoopbackDnsServerBuilder::default()
    }

    /// Starts a server for one zone text.
    ///
    /// # Errors
    ///
    /// [`ServerError`] when the zone does not load or the sockets cannot be bound.
    pub async fn start(zone_text: &str) -> Result<LoopbackDnsServer, ServerError> {
        LoopbackDnsServer::builder()
            .zone_text(zone_text)
            .start()
            .await
    }

    /// The address (UDP and TCP) to send queries to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A [`HickoryResolver`] that queries only this server.
    ///
    /// # Errors
    ///
    /// [`LookupError`] when hickory rejects the configuration.
    pub fn resolver(&self, options: HickoryOptions) -> Result<HickoryResolver, LookupError> {
        HickoryResolver::new(&[self.addr], options)
    }

    /// Sets or clears the fault for `name`.
    pub fn set_fault(&self, name: &str, fault: Option<Fault>) {
        let mut f = self.state.faults.lock();
        match fault {
            Some(fault) => {
                f.insert(trim(name), fault);
            }
            None => {
                f.remove(&trim(name));
            }
        }
    }

    /// Queries received (all names, types and transports).
    pub fn queries(&self) -> u64 {
        self.state.total.load(Ordering::Relaxed)
    }

    /// Queries received for `name` (any type).
    pub fn queries_for(&self, name: &str) -> u64 {
        let name = trim(name);
        self.state
            .per_name
            .lock()
            .iter()
            .filter(|((n, _), _)| *n == name)
            .map(|(_, c)| *c)
            .sum()
    }

    /// Queries received for `name` and `rtype`.
    pub fn queries_for_type(&self, name: &str, rtype: RecordType) -> u64 {
        let code = match rtype {
            RecordType::Mx => HRecordType::MX,
            RecordType::A => HRecordType::A,
            RecordType::Aaaa => HRecordType::AAAA,
        };
        self.state
            .per_name
            .lock()
            .get(&(trim(name), u16::from(code)))
            .copied()
            .unwrap_or(0)
    }

    /// Stops the server and waits for its tasks to end.
    pub async fn shutdown(mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.shutdown_gracefully().await;
        }
    }
}

impl Drop for LoopbackDnsServer {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.shutdown_token().cancel();
        }
    }
}
