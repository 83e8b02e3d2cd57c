//! `--web.config.file`: TLS and basic auth, in the format of the Prometheus exporter-toolkit, so
//! that a file written for node_exporter serves here too:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hashes, as `htpasswd -nBC 10 prometheus` writes them
//! ```

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// What is wrong with a web configuration file, said in one line.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct WebConfigError {
    /// The file at fault: the configuration file or one it names.
    pub path: PathBuf,
    /// What was expected.
    pub message: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsConfigFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsConfigFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
}

/// How the server is reached: over TLS or not, and with which users.
#[derive(Clone, Default)]
pub struct WebSecurity {
    /// Accepts TLS connections; `None` serves plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// The users allowed in; empty lets everyone in.
    pub users: BasicAuth,
}

impl WebSecurity {
    /// Reads `path` and everything it names.
    pub fn load(path: &Path) -> Result<WebSecurity, WebConfigError> {
        let fail = |path: &Path, message: String| WebConfigError {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(path, e.to_string()))?;
        let file: WebConfigFile = yaml_serde::from_str(&text).map_err(|e| {
            fail(
                path,
                format!("expected a web configuration (exporter-toolkit format): {e}"),
            )
        })?;
        let beside = |named: &Path| match path.parent() {
            Some(directory) => directory.join(named),
            None => named.to_owned(),
        };
        for (user, hash) in &file.basic_auth_users {
            if bcrypt::verify("", hash).is_err() {
                return Err(fail(
                    path,
                    format!("basic_auth_users.{user}: expected a bcrypt hash ($2y$...)"),
                ));
            }
        }
        let tls = match file.tls_server_config {
            Some(tls) => Some(tls_acceptor(&tls, beside, fail)?),
            None => None,
        };
        Ok(WebSecurity {
            tls,
            users: BasicAuth::new(file.basic_auth_users),
        })
    }
}

fn tls_acceptor(
    tls: &TlsConfigFile,
    beside: impl Fn(&Path) -> PathBuf,
    fail: impl Fn(&Path, String) -> WebConfigError,
) -> Result<TlsAcceptor, WebConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert_file = beside(&tls.cert_file);
    let certificates = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(&cert_file, format!("expected PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(fail(&cert_file, "expected PEM certificates: none".into()));
    }
    let key_file = beside(&tls.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| fail(&key_file, format!("expected a PEM private key: {e}")))?;

    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&cert_file, e.to_string()))?;
    let auth_type = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match (auth_type, &tls.client_ca_file) {
        ("NoClientCert", _) => builder.with_no_client_auth(),
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", Some(ca_file)) => {
            let ca_file = beside(ca_file);
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(&ca_file)
                .map_err(|e| fail(&ca_file, format!("expected PEM certificates: {e}")))?
            {
                let certificate = certificate
                    .map_err(|e| fail(&ca_file, format!("expected PEM certificates: {e}")))?;
                roots
                    .add(certificate)
                    .map_err(|e| fail(&ca_file, format!("expected a CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| fail(&ca_file, format!("expected a CA certificate: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", None) => {
            return Err(fail(
                &cert_file,
                format!("client_auth_type {auth_type} needs client_ca_file"),
            ))
        }
        (other, _) => {
            return Err(fail(
                &cert_file,
                format!(
                    "client_auth_type {other}: expected NoClientCert, VerifyClientCertIfGiven \
                     or RequireAndVerifyClientCert"
                ),
            ))
        }
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|e| fail(&key_file, format!("does not match the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Wrong credentials remembered, so that a repeated one is refused without hashing it again.
pub const FAILED_REMEMBERED: usize = 4096;

/// Why credentials were refused: the `reason` of `accesslog_http_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Not `Basic` with base64 of `user:password`.
    Malformed,
    /// A user not in the file.
    UnknownUser,
    /// A known user with another password.
    WrongPassword,
    /// The check could not start within its deadline (others were being checked).
    Busy,
}

impl AuthFailure {
    /// Every reason, in label order.
    pub const ALL: [AuthFailure; 5] = [
        AuthFailure::Busy,
        AuthFailure::Malformed,
        AuthFailure::Missing,
        AuthFailure::UnknownUser,
        AuthFailure::WrongPassword,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::WrongPassword => "wrong_password",
            AuthFailure::Busy => "busy",
        }
    }
}

/// What a request's credentials come to before any hashing.
pub enum Verdict {
    /// Let in: no users are configured, or these credentials were verified before.
    Allowed,
    /// Refused at once.
    Refused(AuthFailure),
    /// To be decided by a bcrypt check ([`BasicAuth::verify`]), slow on purpose.
    Check(PendingCheck),
}

/// Credentials waiting for their bcrypt check.
pub struct PendingCheck {
    key: u64,
    password: String,
    // `None` for an unknown user, checked against the dummy hash.
    hash: Option<String>,
}

/// Users and their bcrypt hashes, with the credentials already verified and those recently
/// refused remembered (as keyed hashes, never the passwords).
///
/// An unknown user's password is checked against a dummy hash of the users' own cost, so it
/// takes as long as a known user's: user names cannot be told apart by timing.
#[derive(Clone, Default)]
pub struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    dummy: Arc<String>,
    // bcrypt is slow on purpose (tens of milliseconds a check): a scraper sending the same
    // credentials every few seconds is checked once.
    verified: Arc<Mutex<HashSet<u64>>>,
    failed: Arc<Mutex<Remembered>>,
    keys: RandomState,
}

/// A bounded set: the oldest key goes when a new one comes past the bound.
#[derive(Default)]
struct Remembered {
    keys: HashSet<u64>,
    order: std::collections::VecDeque<u64>,
}

impl Remembered {
    fn insert(&mut self, key: u64) {
        if self.keys.insert(key) {
            self.order.push_back(key);
            if self.order.len() > FAILED_REMEMBERED {
                if let Some(oldest) = self.order.pop_front() {
                    self.keys.remove(&oldest);
                }
            }
        }
    }
}

/// The cost of a bcrypt hash (`$2y$10$…` → 10).
fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let dummy = match users.values().filter_map(|hash| cost_of(hash)).max() {
            Some(cost) => bcrypt::hash("accesslog-exporter: no such user", cost)
                .unwrap_or_else(|_| users.values().next().cloned().unwrap_or_default()),
            None => String::new(),
        };
        BasicAuth {
            users: Arc::new(users),
            dummy: Arc::new(dummy),
            ..BasicAuth::default()
        }
    }

    /// Whether anyone may come in without credentials.
    pub fn is_open(&self) -> bool {
        self.users.is_empty()
    }

    /// What the `Authorization` header's value comes to without hashing anything.
    pub fn check(&self, authorization: Option<&[u8]>) -> Verdict {
        if self.is_open() {
            return Verdict::Allowed;
        }
        let Some(authorization) = authorization else {
            return Verdict::Refused(AuthFailure::Missing);
        };
        let Some(credentials) = authorization.strip_prefix(b"Basic ").and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        }) else {
            return Verdict::Refused(AuthFailure::Malformed);
        };
        let Some((user, password)) = std::str::from_utf8(&credentials)
            .ok()
            .and_then(|text| text.split_once(':'))
        else {
            return Verdict::Refused(AuthFailure::Malformed);
        };
        let hash = self.users.get(user);
        let key = self.keys.hash_one((user, password, hash));
        if lock(&self.verified).contains(&key) {
            return Verdict::Allowed;
        }
        if lock(&self.failed).keys.contains(&key) {
            return Verdict::Refused(match hash {
                Some(_) => AuthFailure::WrongPassword,
                None => AuthFailure::UnknownUser,
            });
        }
        Verdict::Check(PendingCheck {
            key,
            password: password.to_owned(),
            hash: hash.cloned(),
        })
    }

    /// The bcrypt check of credentials [`BasicAuth::check`] could not decide, remembered
    /// either way. Slow on purpose: run it off the threads that serve, one at a time.
    pub fn verify(&self, check: PendingCheck) -> Result<(), AuthFailure> {
        let hash = check.hash.as_deref().unwrap_or(&self.dummy);
        let matches = bcrypt::verify(&check.password, hash).unwrap_or(false);
        if matches && check.hash.is_some() {
            lock(&self.verified).insert(check.key);
            return Ok(());
        }
        lock(&self.failed).insert(check.key);
        Err(match check.hash {
            Some(_) => AuthFailure::WrongPassword,
            None => AuthFailure::UnknownUser,
        })
    }

    /// Whether the `Authorization` header's value names a user with the right password:
    /// [`BasicAuth::check`], then [`BasicAuth::verify`] if it must.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match self.check(authorization) {
            Verdict::Allowed => true,
            Verdict::Refused(_) => false,
            Verdict::Check(check) => self.verify(check).is_ok(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Sets of keys: a panic while holding one leaves nothing half-done that matters.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(password: &str) -> BasicAuth {
        let hash = bcrypt::hash(password, 4).unwrap();
        BasicAuth::new(BTreeMap::from([("alice".to_owned(), hash)]))
    }

    fn header(credentials: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
        .into_bytes()
    }

    #[test]
    fn only_the_right_user_and_password_come_in() {
        let auth = auth("s3cret:with colon");
        assert!(auth.allows(Some(&header("alice:s3cret:with colon"))));
        assert!(
            auth.allows(Some(&header("alice:s3cret:with colon"))),
            "again, cached"
        );
        assert!(!auth.allows(Some(&header("alice:wrong"))));
        assert!(!auth.allows(Some(&header("bob:s3cret:with colon"))));
        assert!(!auth.allows(Some(b"Basic not-base64!")));
        assert!(!auth.allows(Some(b"Bearer abc")));
        assert!(!auth.allows(None));
        assert!(BasicAuth::default().allows(None), "no users: open");
    }

    #[test]
    fn refusals_are_remembered_and_unknown_users_are_hashed_too() {
        let auth = auth("right");
        assert_eq!(cost_of(&auth.users["alice"]), Some(4));
        assert_eq!(
            cost_of(&auth.dummy),
            Some(4),
            "the dummy has the users' cost"
        );
        for (credentials, reason) in [
            ("alice:wrong", AuthFailure::WrongPassword),
            ("bob:right", AuthFailure::UnknownUser),
        ] {
            let Verdict::Check(check) = auth.check(Some(&header(credentials))) else {
                panic!("{credentials}: checked the first time");
            };
            assert_eq!(auth.verify(check), Err(reason));
            assert!(
                matches!(auth.check(Some(&header(credentials))), Verdict::Refused(r) if r == reason),
                "{credentials}: refused without hashing the second time"
            );
        }
        assert!(matches!(
            auth.check(None),
            Verdict::Refused(AuthFailure::Missing)
        ));
        assert!(matches!(
            auth.check(Some(b"Basic !!")),
            Verdict::Refused(AuthFailure::Malformed)
        ));

        let mut remembered = Remembered::default();
        for key in 0..FAILED_REMEMBERED as u64 + 10 {
            remembered.insert(key);
        }
        assert_eq!(remembered.keys.len(), FAILED_REMEMBERED);
        assert!(
            !remembered.keys.contains(&0)
                && remembered.keys.contains(&(FAILED_REMEMBERED as u64 + 9))
        );
    }

    #[test]
    fn a_bad_file_is_one_line_naming_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        for (text, expected) in [
            ("tls_server_config: [", "expected a web configuration"),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice: expected a bcrypt hash",
            ),
            ("tls_config: {}\n", "unknown field `tls_config`"),
            (
                "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
                "missing.crt: expected PEM certificates",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = WebSecurity::load(&path).err().expect(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }
}
