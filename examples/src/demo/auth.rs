//! Who may call which endpoint of the demo's HTTP listener: `[http.auth]` of the live
//! configuration, applied to every request by a tower layer
//! (`axum::middleware::from_fn_with_state`) around the whole router. kumo-inject's and
//! kumo-metrics' routers know nothing of it: a host composes the same layer around them.
//!
//! The order of the checks: a peer in `trusted` passes; a peer in the endpoint group's `open`
//! list passes; otherwise the `Authorization` header must carry a bearer token whose SHA-256
//! is configured or basic credentials of a configured user, and the credential must list the
//! endpoint group (`403` when it does not, `401` for anything else).
//!
//! # Implementation
//!
//! Bearer tokens are long random strings, so one SHA-256 is enough to store them safely: no
//! dictionary reaches a 256-bit random value, and a slow hash would only slow every request.
//! The request's token is hashed and compared with every configured digest in constant time
//! (`subtle`), all of them, without an early exit.
//!
//! Passwords are chosen by people and need a slow, salted hash: argon2id in its PHC string
//! form, verified by the `argon2` crate (its comparison is constant time). A verification
//! costs tens of milliseconds of CPU, so at most two run at once, on blocking threads, and a
//! successful one is remembered (by the SHA-256 of the credentials, with the PHC string it
//! matched, so that an edited or removed user stops passing at once).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::{DemoConfig, Endpoint, HttpAuthConfig};

/// Verified basic credentials remembered at most (the map is emptied when full).
const VERIFIED_CAPACITY: usize = 1024;
/// Argon2 verifications at once.
const VERIFICATIONS_AT_ONCE: usize = 2;

/// The configuration in force, read on every request (the demo's live config).
pub(crate) type ConfigSourceFn = dyn Fn() -> Arc<DemoConfig> + Send + Sync;

/// The state of the authentication layer.
pub(crate) struct Auth {
    config: Box<ConfigSourceFn>,
    /// SHA-256 of verified `user:password` → the PHC string it matched.
    verified: Mutex<HashMap<[u8; 32], String>>,
    verifying: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

/// What the `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    None,
    Bearer(Vec<u8>),
    Basic { user: String, password: String },
    Malformed,
}

fn credentials(value: Option<&HeaderValue>) -> Credentials {
    let Some(value) = value else {
        return Credentials::None;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credentials::Bearer(rest.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Credentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            };
        }
    }
    Credentials::Malformed
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let d = |c: u8| (c as char).to_digit(16);
        out[i] = (d(pair[0])? * 16 + d(pair[1])?) as u8;
    }
    Some(out)
}

/// The index of the configured token whose digest is `digest`, comparing with every one in
/// constant time.
fn token_match(auth: &HttpAuthConfig, digest: &[u8; 32]) -> Option<usize> {
    let mut found = None;
    for (i, t) in auth.tokens.iter().enumerate() {
        let want = unhex(&t.sha256).unwrap_or([0; 32]);
        if bool::from(want.ct_eq(digest)) {
            found = Some(i);
        }
    }
    found
}

/// What the policy decided for one request.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Allow,
    /// No credential, or a wrong one.
    Unauthorized,
    /// A valid credential that does not list the endpoint group.
    Forbidden,
    /// Basic credentials of this configured user: the password must be verified.
    VerifyPassword {
        phc: String,
        endpoints_ok: bool,
    },
}

fn decide(
    auth: &HttpAuthConfig,
    peer: IpAddr,
    endpoint: Endpoint,
    creds: &Credentials,
) -> Decision {
    // `Cidr::contains` takes an IPv4 peer seen through an IPv6 socket as IPv4.
    if auth.trusted.iter().any(|n| n.contains(peer))
        || auth
            .open
            .for_endpoint(endpoint)
            .iter()
            .any(|n| n.contains(peer))
    {
        return Decision::Allow;
    }
    match creds {
        Credentials::Bearer(token) => {
            let digest: [u8; 32] = Sha256::digest(token).into();
            match token_match(auth, &digest) {
                Some(i) if auth.tokens[i].endpoints.contains(&endpoint) => Decision::Allow,
                Some(_) => Decision::Forbidden,
                None => Decision::Unauthorized,
            }
        }
        Credentials::Basic { user, .. } => match auth.users.iter().find(|u| u.name == *user) {
            Some(u) => Decision::VerifyPassword {
                phc: u.password.clone(),
                endpoints_ok: u.endpoints.contains(&endpoint),
            },
            None => Decision::Unauthorized,
        },
        Credentials::None | Credentials::Malformed => Decision::Unauthorized,
    }
}

fn verify_argon2(phc: &str, password: &[u8]) -> bool {
    use argon2::PasswordVerifier as _;
    argon2::PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password, &h)
            .is_ok()
    })
}

impl Auth {
    /// A layer state reading `[http.auth]` from `config` on every request.
    pub(crate) fn new(config: Box<ConfigSourceFn>) -> Arc<Self> {
        Arc::new(Self {
            config,
            verified: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(VERIFICATIONS_AT_ONCE),
        })
    }

    /// Whether `password` is `user`'s (whose configured hash is `phc`): remembered, or
    /// verified with argon2 on a blocking thread.
    async fn password_ok(&self, user: &str, password: &str, phc: String) -> bool {
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if self.verified.lock().get(&key).is_some_and(|p| *p == phc) {
            return true;
        }
        let Ok(_permit) = self.verifying.acquire().await else {
            return false;
        };
        let (phc2, password) = (phc.clone(), password.as_bytes().to_vec());
        let ok = tokio::task::spawn_blocking(move || verify_argon2(&phc2, &password))
            .await
            .unwrap_or(false);
        if ok {
            let mut v = self.verified.lock();
            if v.len() >= VERIFIED_CAPACITY {
                v.clear();
            }
            v.insert(key, phc);
        }
        ok
    }
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    let h = r.headers_mut();
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"kumo\""),
    );
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"kumo\", charset=\"UTF-8\""),
    );
    r
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this credential may not call this endpoint\n",
    )
        .into_response()
}

/// The middleware: passes the request on or answers `401`/`403`. The peer comes from the
/// `ConnectInfo<SocketAddr>` extension that the listener sets; a request without one (not from
/// a socket) is treated as untrusted.
pub(crate) async fn authorize(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let endpoint = Endpoint::of_path(req.uri().path());
    let creds = credentials(req.headers().get(header::AUTHORIZATION));
    let config = (auth.config)();
    match decide(&config.http.auth, peer, endpoint, &creds) {
        Decision::Allow => next.run(req).await,
        Decision::Unauthorized => unauthorized(),
        Decision::Forbidden => forbidden(),
        Decision::VerifyPassword { phc, endpoints_ok } => {
            let Credentials::Basic { user, password } = &creds else {
                return unauthorized();
            };
            if !auth.password_ok(user, password, phc).await {
                unauthorized()
            } else if !endpoints_ok {
                forbidden()
            } else {
                next.run(req).await
            }
        }
    }
}

/// SHA-256 of `token` as 64 lowercase hexadecimal digits: the `sha256` of `[[http.auth.tokens]]`.
pub(crate) fn token_sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{TokenCredential, UserCredential};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config() -> HttpAuthConfig {
        let mut a = HttpAuthConfig {
            trusted: vec!["127.0.0.1/32".parse().unwrap()],
            ..HttpAuthConfig::default()
        };
        a.open.metrics = vec!["192.0.2.0/24".parse().unwrap()];
        a.tokens.push(TokenCredential {
            name: "ci".into(),
            sha256: token_sha256_hex("s3cret"),
            endpoints: vec![Endpoint::Inject],
        });
        a.users.push(UserCredential {
            name: "ops".into(),
            password: "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$ahash".into(),
            endpoints: vec![Endpoint::Metrics],
        });
        a
    }

    #[test]
    fn the_authorization_header_is_parsed() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(credentials(None), Credentials::None);
        assert_eq!(
            credentials(Some(&v("bearer abc"))),
            Credentials::Bearer(b"abc".to_vec())
        );
        assert_eq!(
            credentials(Some(&v("Basic b3BzOnB3OmQ="))),
            Credentials::Basic {
                user: "ops".into(),
                password: "pw:d".into()
            }
        );
        assert_eq!(credentials(Some(&v("Basic !!!"))), Credentials::Malformed);
        assert_eq!(credentials(Some(&v("Bearer"))), Credentials::Malformed);
        assert_eq!(credentials(Some(&v("Digest x"))), Credentials::Malformed);
    }

    #[test]
    fn trusted_open_token_and_scope() {
        let a = config();
        let bearer = |t: &str| Credentials::Bearer(t.as_bytes().to_vec());
        let none = Credentials::None;
        assert_eq!(
            decide(&a, ip("127.0.0.1"), Endpoint::Trace, &none),
            Decision::Allow
        );
        assert_eq!(
            decide(&a, ip("::ffff:127.0.0.1"), Endpoint::Trace, &none),
            Decision::Allow
        );
        assert_eq!(
            decide(&a, ip("127.0.0.2"), Endpoint::Status, &none),
            Decision::Unauthorized
        );
        assert_eq!(
            decide(&a, ip("192.0.2.9"), Endpoint::Metrics, &none),
            Decision::Allow
        );
        assert_eq!(
            decide(&a, ip("192.0.2.9"), Endpoint::Inject, &none),
            Decision::Unauthorized
        );
        let peer = ip("198.51.100.1");
        assert_eq!(
            decide(&a, peer, Endpoint::Inject, &bearer("s3cret")),
            Decision::Allow
        );
        assert_eq!(
            decide(&a, peer, Endpoint::Status, &bearer("s3cret")),
            Decision::Forbidden
        );
        assert_eq!(
            decide(&a, peer, Endpoint::Inject, &bearer("s3cre")),
            Decision::Unauthorized
        );
        let basic = |u: &str| Credentials::Basic {
            user: u.into(),
            password: "x".into(),
        };
        assert!(matches!(
            decide(&a, peer, Endpoint::Inject, &basic("ops")),
            Decision::VerifyPassword {
                endpoints_ok: false,
                ..
            }
        ));
        assert_eq!(
            decide(&a, peer, Endpoint::Metrics, &basic("nobody")),
            Decision::Unauthorized
        );
    }

    #[test]
    fn argon2_verification() {
        use argon2::PasswordHasher as _;
        let salt = argon2::password_hash::SaltString::from_b64("c29tZXNhbHQ").unwrap();
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let hasher =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let phc = hasher.hash_password(b"hunter2", &salt).unwrap().to_string();
        assert!(verify_argon2(&phc, b"hunter2"));
        assert!(!verify_argon2(&phc, b"hunter3"));
        assert!(!verify_argon2("not a hash", b"hunter2"));
    }

    proptest::proptest! {
        /// Any header value a client can send is read without a panic.
        #[test]
        fn any_authorization_header_is_read(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                let _ = credentials(Some(&v));
            }
        }

        /// Basic credentials come back as sent (a user name cannot hold `:`).
        #[test]
        fn basic_credentials_round_trip(user in "[^:]{0,20}", password in ".{0,40}") {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{password}"));
            let v = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
            proptest::prop_assert_eq!(credentials(Some(&v)), Credentials::Basic { user, password });
        }
    }
}
