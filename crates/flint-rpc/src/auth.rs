//! Authentication of RPC connections (Spark's `spark.authenticate`): before a connection
//! carries any gRPC, client and server prove to each other that they know the shared secret,
//! with a challenge and response over fresh nonces, as Spark's `AuthEngine` does on each new
//! channel. The secret never crosses the network, and a recorded exchange is useless on
//! another connection.
//!
//! The exchange, on the raw TCP stream:
//!
//! 1. client → server: `FLINTAU1` and a 32-byte client nonce;
//! 2. server → client: a 32-byte server nonce and `HMAC-SHA256(secret, "server" ‖ nonces)`;
//! 3. client → server (when the server's proof is right): `HMAC-SHA256(secret, "client" ‖ nonces)`;
//! 4. server → client (when the client's proof is right): one byte, 1; else the server
//!    closes the connection and logs one line naming the peer.
//!
//! Only then does HTTP/2 start, so nothing an unauthenticated peer sends reaches a handler.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::tls::TlsConfig;

/// The first bytes a Flint client sends on an authenticated connection (version 1).
const MAGIC: &[u8; 8] = b"FLINTAU1";
const NONCE_LEN: usize = 32;
const PROOF_LEN: usize = 32;
const ACCEPTED: u8 = 1;

/// How long a server waits for a new connection to authenticate before it drops it.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a process needs to talk to its peers securely: the shared secret of
/// `spark.authenticate` and the certificates of `spark.ssl.*`, each when it is on. Cheap to
/// clone; its `Debug` never shows the secret.
#[derive(Clone, Default)]
pub struct RpcSecurity {
    secret: Option<Arc<str>>,
    tls: Option<TlsConfig>,
    acls: Arc<flint_conf::Acls>,
}

impl std::fmt::Debug for RpcSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcSecurity")
            .field("authenticate", &self.secret.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl RpcSecurity {
    /// No authentication (`spark.authenticate=false`).
    pub fn none() -> Self {
        RpcSecurity::default()
    }

    /// Authentication with `secret`, or none when it is `None` (as `flint_conf::auth_secret`
    /// returns it).
    pub fn new(secret: Option<String>) -> Self {
        RpcSecurity {
            secret: secret.map(Arc::from),
            tls: None,
            acls: Arc::default(),
        }
    }

    /// The process's security from its configuration: `spark.authenticate` (see
    /// `flint_conf::auth_secret`) and `spark.ssl.*` (its PEM files read now).
    pub fn from_conf(conf: &flint_conf::SparkConf) -> Result<Self, flint_conf::ConfError> {
        let mut security = RpcSecurity::new(flint_conf::auth_secret(conf)?);
        if let Some(files) = flint_conf::ssl_files(conf)? {
            let tls = TlsConfig::from_pem_files(
                &files.cert_chain,
                &files.private_key,
                &files.trust_store,
            )
            .map_err(|e| flint_conf::ConfError::Inconsistent(e.to_string()))?;
            security.tls = Some(tls);
        }
        security.acls = Arc::new(flint_conf::Acls::from_conf(
            conf,
            &flint_conf::current_user(),
        )?);
        Ok(security)
    }

    /// The same with TLS as `tls` says.
    pub fn with_tls(mut self, tls: Option<TlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// The same TLS without the connection handshake of the secret: for endpoints whose
    /// clients prove it per request (Spark Connect's bearer token).
    pub fn tls_only(&self) -> Self {
        RpcSecurity {
            secret: None,
            tls: self.tls.clone(),
            acls: Arc::clone(&self.acls),
        }
    }

    /// Who may see and change what this process serves (`spark.acls.enable`).
    pub fn acls(&self) -> &flint_conf::Acls {
        &self.acls
    }

    /// `https` with TLS on, else `http`: the scheme of this process's web UI.
    pub fn web_scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The TLS settings, when `spark.ssl.enabled`.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// True when peers must prove they know the secret.
    pub fn authenticates(&self) -> bool {
        self.secret.is_some()
    }

    /// The shared secret, for handing to a child process in its environment and for checking
    /// a Spark Connect bearer token; `None` when authentication is off.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// True when `token` is the secret, compared in constant time; always true when
    /// authentication is off.
    pub fn accepts_token(&self, token: &str) -> bool {
        match &self.secret {
            None => true,
            // MACs of both, compared in constant time: the time taken does not tell where
            // they differ.
            Some(secret) => mac(secret, b"token", token.as_bytes(), &[])
                .verify_slice(&proof(secret, b"token", secret.as_bytes(), &[]))
                .is_ok(),
        }
    }
}

/// `HMAC-SHA256(secret, label ‖ client nonce ‖ server nonce)`, unfinished.
fn mac(secret: &str, label: &[u8], client: &[u8], server: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label);
    mac.update(client);
    mac.update(server);
    mac
}

/// `HMAC-SHA256(secret, label ‖ client nonce ‖ server nonce)`.
fn proof(secret: &str, label: &[u8], client: &[u8], server: &[u8]) -> [u8; PROOF_LEN] {
    mac(secret, label, client, server)
        .finalize()
        .into_bytes()
        .into()
}

/// Why a connection did not authenticate.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The peer spoke something else first: a client without `spark.authenticate`, or not Flint.
    #[error(
        "it did not authenticate (spark.authenticate is on here; a client without it, or not Flint)"
    )]
    NotAuthenticating,
    /// The peer's proof was wrong.
    #[error("it does not know the secret (spark.authenticate.secret differs)")]
    WrongSecret,
    /// The server refused this client's proof, or closed the connection during the exchange.
    #[error(
        "the server refused authentication (is spark.authenticate on there, with the same spark.authenticate.secret?)"
    )]
    Refused,
    /// The TCP connection itself failed: nothing listens there, or the host is unreachable.
    /// The `io::Error` is the source, so callers can tell a refused connection (a peer that
    /// is gone) from one that failed later.
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    /// The exchange did not finish in time.
    #[error("it did not authenticate within {}s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
    /// The connection failed during the exchange.
    #[error("the connection failed during authentication: {0}")]
    Io(std::io::Error),
    /// The TLS handshake failed: a plain-text peer, or an untrusted certificate.
    #[error("the TLS handshake failed (spark.ssl.enabled is on here): {0}")]
    Tls(std::io::Error),
}

fn nonce() -> Result<[u8; NONCE_LEN], AuthError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| AuthError::Io(std::io::Error::other(format!("no random nonce: {e}"))))?;
    Ok(nonce)
}

/// Reads exactly `buf.len()` bytes; an early end is `eof`'s error.
async fn read_all<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    eof: fn() -> AuthError,
) -> Result<(), AuthError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Err(eof()),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Err(eof()),
        Err(error) => Err(AuthError::Io(error)),
    }
}

/// The client's side of the exchange on a fresh connection.
pub(crate) async fn authenticate_to_server<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), AuthError> {
    let client_nonce = nonce()?;
    let mut hello = Vec::with_capacity(MAGIC.len() + NONCE_LEN);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&client_nonce);
    stream.write_all(&hello).await.map_err(AuthError::Io)?;
    let mut challenge = [0u8; NONCE_LEN + PROOF_LEN];
    read_all(stream, &mut challenge, || AuthError::Refused).await?;
    let (server_nonce, server_proof) = challenge.split_at(NONCE_LEN);
    mac(secret, b"server", &client_nonce, server_nonce)
        .verify_slice(server_proof)
        .map_err(|_| AuthError::WrongSecret)?;
    let answer = proof(secret, b"client", &client_nonce, server_nonce);
    stream.write_all(&answer).await.map_err(AuthError::Io)?;
    let mut verdict = [0u8; 1];
    read_all(stream, &mut verdict, || AuthError::Refused).await?;
    if verdict[0] == ACCEPTED {
        Ok(())
    } else {
        Err(AuthError::Refused)
    }
}

/// The server's side of the exchange on a connection it accepted.
pub(crate) async fn authenticate_client<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &str,
) -> Result<(), AuthError> {
    let mut hello = [0u8; MAGIC.len() + NONCE_LEN];
    read_all(stream, &mut hello[..MAGIC.len()], || {
        AuthError::NotAuthenticating
    })
    .await?;
    if &hello[..MAGIC.len()] != MAGIC {
        return Err(AuthError::NotAuthenticating);
    }
    read_all(stream, &mut hello[MAGIC.len()..], || {
        AuthError::NotAuthenticating
    })
    .await?;
    let client_nonce = &hello[MAGIC.len()..];
    let server_nonce = nonce()?;
    let mut challenge = Vec::with_capacity(NONCE_LEN + PROOF_LEN);
    challenge.extend_from_slice(&server_nonce);
    challenge.extend_from_slice(&proof(secret, b"server", client_nonce, &server_nonce));
    stream.write_all(&challenge).await.map_err(AuthError::Io)?;
    let mut answer = [0u8; PROOF_LEN];
    read_all(stream, &mut answer, || AuthError::WrongSecret).await?;
    mac(secret, b"client", client_nonce, &server_nonce)
        .verify_slice(&answer)
        .map_err(|_| AuthError::WrongSecret)?;
    stream.write_all(&[ACCEPTED]).await.map_err(AuthError::Io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exchange(
        client_secret: &'static str,
        server_secret: &'static str,
    ) -> (Result<(), AuthError>, Result<(), AuthError>) {
        let (mut client, mut server) = tokio::io::duplex(256);
        let client =
            tokio::spawn(async move { authenticate_to_server(&mut client, client_secret).await });
        let server = authenticate_client(&mut server, server_secret).await;
        (client.await.unwrap(), server)
    }

    #[tokio::test]
    async fn peers_with_the_same_secret_authenticate() {
        let (client, server) = exchange("s3cret", "s3cret").await;
        assert!(client.is_ok(), "{client:?}");
        assert!(server.is_ok(), "{server:?}");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_at_both_ends() {
        let (client, server) = exchange("guess", "s3cret").await;
        assert!(matches!(client, Err(AuthError::WrongSecret)), "{client:?}");
        // The client stops at the server's proof, so the server sees the connection end.
        assert!(matches!(server, Err(AuthError::WrongSecret)), "{server:?}");
    }

    #[tokio::test]
    async fn plain_http2_is_not_authentication() {
        let (mut client, mut server) = tokio::io::duplex(256);
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let result = authenticate_client(&mut server, "s3cret").await;
        assert!(matches!(result, Err(AuthError::NotAuthenticating)));
    }

    #[test]
    fn tokens_are_checked_against_the_secret() {
        let security = RpcSecurity::new(Some("s3cret".into()));
        assert!(security.accepts_token("s3cret"));
        assert!(!security.accepts_token("s3cre"));
        assert!(!security.accepts_token(""));
        assert!(RpcSecurity::none().accepts_token("anything"));
        assert!(!format!("{security:?}").contains("s3cret"));
    }
}
