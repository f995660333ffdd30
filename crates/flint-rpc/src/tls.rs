//! TLS (Spark's `spark.ssl.*`): one certificate per process from PEM files, peers trusted when
//! the trust store's CA certificates sign theirs. Servers speak TLS on every accepted
//! connection before anything else (before authentication, so the secret's challenge is
//! encrypted too); clients check the server's certificate against the host they dialled.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A process's TLS settings, loaded once from `spark.ssl.certChain`, `.privateKey` and
/// `.trustStore`.
#[derive(Clone)]
pub struct TlsConfig {
    /// For gRPC servers: HTTP/2 negotiated with ALPN, as gRPC clients (PySpark's) require.
    rpc_server: Arc<ServerConfig>,
    /// For web UIs: HTTP/1.1.
    web_server: Arc<ServerConfig>,
    /// For connections to peers: HTTP/2.
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

/// A TLS setting that cannot be used; names the key and file.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {key} {path}: {message}")]
pub struct TlsError {
    key: &'static str,
    path: String,
    message: String,
}

/// ring's algorithms: aws-lc-rs (rustls's default, with post-quantum key exchange) needs
/// cmake and a long C build, which the README's set-up does not have.
#[allow(deprecated)]
fn the_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(key: &'static str, path: &str, message: impl std::fmt::Display) -> TlsError {
    TlsError {
        key,
        path: path.to_string(),
        message: message.to_string(),
    }
}

impl TlsConfig {
    /// Loads the PEM files: this process's certificate chain and key, and the CA
    /// certificates it trusts.
    pub fn from_pem_files(
        cert_chain: &str,
        private_key: &str,
        trust_store: &str,
    ) -> Result<Self, TlsError> {
        let chain = read_certificates(cert_chain)
            .map_err(|e| tls_error("spark.ssl.certChain", cert_chain, e))?;
        let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| {
            tls_error(
                "spark.ssl.privateKey",
                private_key,
                format!("no PEM private key ({e})"),
            )
        })?;
        let mut roots = RootCertStore::empty();
        for certificate in read_certificates(trust_store)
            .map_err(|e| tls_error("spark.ssl.trustStore", trust_store, e))?
        {
            roots.add(certificate).map_err(|e| {
                tls_error(
                    "spark.ssl.trustStore",
                    trust_store,
                    format!("unusable certificate: {e}"),
                )
            })?;
        }
        let server = |alpn: &[u8]| -> Result<Arc<ServerConfig>, TlsError> {
            let mut config = ServerConfig::builder_with_provider(the_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| tls_error("spark.ssl.enabled", "", e))?
                .with_no_client_auth()
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(|e| {
                    tls_error(
                        "spark.ssl.privateKey",
                        private_key,
                        format!("does not match spark.ssl.certChain: {e}"),
                    )
                })?;
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(config))
        };
        let mut client = ClientConfig::builder_with_provider(the_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("spark.ssl.enabled", "", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(TlsConfig {
            rpc_server: server(b"h2")?,
            web_server: server(b"http/1.1")?,
            client: Arc::new(client),
        })
    }

    /// The server side of TLS for gRPC (HTTP/2).
    pub(crate) fn rpc_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.rpc_server))
    }

    /// The server side of TLS for web UIs (HTTP/1.1).
    pub(crate) fn web_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.web_server))
    }

    /// Opens TLS over `stream` to `host`, checking its certificate names it.
    pub(crate) async fn connect(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        TlsConnector::from(Arc::clone(&self.client))
            .connect(name, stream)
            .await
    }
}

fn read_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certificates.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certificates)
}

/// A connection that is plain TCP or TLS over it, as the process's settings say.
pub enum MaybeTls<S> {
    /// Plain TCP (`spark.ssl.enabled=false`).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<S>),
}

impl<S> MaybeTls<S> {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream
    where
        S: TlsLayer,
    {
        match self {
            MaybeTls::Plain(stream) => stream,
            MaybeTls::Tls(stream) => stream.tcp(),
        }
    }
}

/// A TLS stream over TCP, of either side.
pub trait TlsLayer {
    /// The TCP connection underneath.
    fn tcp(&self) -> &TcpStream;
}

impl TlsLayer for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl TlsLayer for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(stream) => stream.is_write_vectored(),
            MaybeTls::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_flush(cx),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection a server accepted.
pub type ServerConnection = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

/// A connection a client opened.
pub type ClientConnection = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

impl tonic::transport::server::Connected for ServerConnection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.tcp().connect_info()
    }
}
