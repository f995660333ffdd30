//! Serving a web UI and its JSON API (master, worker, driver, history server) with the same
//! protection as RPC: with `spark.authenticate` on, every request must carry the secret, as
//! the password of HTTP basic authentication (what a browser prompts for; the user name is
//! the requester's) or as a bearer token (for scripts).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use base64::Engine;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::RpcSecurity;
use crate::tls::ServerConnection;

/// Who sent a web request, as far as this server knows: the user name of its basic
/// authentication when the UI requires the secret. Handlers find it in the request's
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser(pub Option<String>);

/// Serves `app` on `listener` until the process ends (or the task is aborted). With TLS on
/// it serves https only (a plain-text request is refused at the handshake). With
/// authentication on, a request without the secret gets `401` with a basic-authentication
/// challenge and one warning naming the peer, and reaches no handler.
pub async fn serve_web(
    listener: TcpListener,
    app: Router,
    security: &RpcSecurity,
) -> std::io::Result<()> {
    let app = app.layer(middleware::from_fn_with_state(
        security.clone(),
        require_secret,
    ));
    let local = listener.local_addr()?;
    let acceptor = security.tls().map(|tls| tls.web_acceptor());
    let listener = WebListener {
        connections: crate::net::accept_loop(listener, None, acceptor),
        local,
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .await
}

/// The connections of a web server, TLS done.
struct WebListener {
    connections: mpsc::Receiver<(ServerConnection, SocketAddr)>,
    local: SocketAddr,
}

impl Listener for WebListener {
    type Io = ServerConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ServerConnection, SocketAddr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The address of a web request's peer.
#[derive(Debug, Clone, Copy)]
struct PeerAddr(SocketAddr);

impl Connected<IncomingStream<'_, WebListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, WebListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

async fn require_secret(
    State(security): State<RpcSecurity>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match identify(&security, request.headers()) {
        Ok(identity) => identity,
        Err(why) => {
            tracing::warn!(
                "Refused a web request from {peer} for {}: {why} (spark.authenticate is on)",
                request.uri().path()
            );
            return (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Basic realm=\"Flint\", charset=\"UTF-8\"")],
                "401 Unauthorized: this UI requires the cluster's secret (spark.authenticate.secret) as the password\n",
            )
                .into_response();
        }
    };
    let acls = security.acls();
    if acls.enabled() && !identity.cluster {
        // Pages and state are read with GET; kills are POSTs.
        let modify = !matches!(*request.method(), Method::GET | Method::HEAD);
        let user = identity.user.as_deref();
        let allowed = if modify {
            acls.can_modify(user)
        } else {
            acls.can_view(user)
        };
        if !allowed {
            let action = if modify { "modify" } else { "view" };
            tracing::warn!(
                "User {} from {peer} is not authorized to {action} {} (spark.acls.enable)",
                user.unwrap_or("(unknown)"),
                request.uri().path()
            );
            return (
                StatusCode::FORBIDDEN,
                format!(
                    "403 Forbidden: user {} may not {action} this (spark.acls.enable)\n",
                    user.unwrap_or("(unknown)")
                ),
            )
                .into_response();
        }
    }
    request.extensions_mut().insert(WebUser(identity.user));
    next.run(request).await
}

/// Who a web request comes from.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    /// The user, when known.
    user: Option<String>,
    /// A bearer token proved the secret with no user named: the cluster itself, or a script
    /// holding its secret, which ACLs do not limit.
    cluster: bool,
}

/// Who sent a request, or why it is refused: with authentication on it must prove the
/// secret; a trusted proxy's user header (`spark.ui.proxyUserHeader`) then names the user.
fn identify(security: &RpcSecurity, headers: &HeaderMap) -> Result<Identity, &'static str> {
    let mut identity = Identity {
        user: None,
        cluster: false,
    };
    if security.authenticates() {
        match authenticated_user(security, headers)? {
            Credential::Bearer => identity.cluster = true,
            Credential::Basic(user) => identity.user = user,
        }
    }
    let proxied = security
        .acls()
        .user_header()
        .and_then(|header| headers.get(header))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|user| !user.is_empty());
    if let Some(user) = proxied {
        identity = Identity {
            user: Some(user.to_string()),
            cluster: false,
        };
    }
    Ok(identity)
}

/// How a request proved the secret.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    /// `Authorization: Bearer SECRET`.
    Bearer,
    /// `Authorization: Basic` with the secret as password, and the user name if any.
    Basic(Option<String>),
}

/// How the request proves the secret, or why it does not.
fn authenticated_user(
    security: &RpcSecurity,
    headers: &HeaderMap,
) -> Result<Credential, &'static str> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err("no credentials");
    };
    let value = value.to_str().map_err(|_| "unreadable credentials")?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return if security.accepts_token(token.trim()) {
            Ok(Credential::Bearer)
        } else {
            Err("a wrong bearer token")
        };
    }
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Err("credentials of an unknown scheme");
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "malformed basic credentials")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "malformed basic credentials")?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or("malformed basic credentials")?;
    if security.accepts_token(password) {
        Ok(Credential::Basic(
            Some(user.to_string()).filter(|user| !user.is_empty()),
        ))
    } else {
        Err("a wrong password")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn basic_and_bearer_credentials_prove_the_secret() {
        let security = RpcSecurity::new(Some("s3cret".into()));
        let basic = |text: &str| {
            headers(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(text)
            ))
        };
        assert_eq!(
            authenticated_user(&security, &basic("alice:s3cret")),
            Ok(Credential::Basic(Some("alice".into())))
        );
        assert_eq!(
            authenticated_user(&security, &basic(":s3cret")),
            Ok(Credential::Basic(None))
        );
        assert!(authenticated_user(&security, &basic("alice:wrong")).is_err());
        assert!(authenticated_user(&security, &basic("alice")).is_err());
        assert_eq!(
            authenticated_user(&security, &headers("Bearer s3cret")),
            Ok(Credential::Bearer)
        );
        assert!(authenticated_user(&security, &headers("Bearer nope")).is_err());
        assert!(authenticated_user(&security, &headers("Basic !!!")).is_err());
        assert!(authenticated_user(&security, &HeaderMap::new()).is_err());
    }

    #[test]
    fn a_proxy_names_the_user_only_with_the_secret() {
        let mut conf = flint_conf::SparkConf::new();
        conf.set("spark.authenticate", "true");
        conf.set("spark.authenticate.secret", "s3cret");
        conf.set("spark.ui.proxyUserHeader", "X-Forwarded-User");
        let security = RpcSecurity::from_conf(&conf).unwrap();
        let mut proxied = headers("Bearer s3cret");
        proxied.insert("x-forwarded-user", "bob".parse().unwrap());
        assert_eq!(
            identify(&security, &proxied),
            Ok(Identity {
                user: Some("bob".into()),
                cluster: false
            })
        );
        let mut forged = HeaderMap::new();
        forged.insert("x-forwarded-user", "bob".parse().unwrap());
        assert!(identify(&security, &forged).is_err(), "no secret, no user");
        assert_eq!(
            identify(&security, &headers("Bearer s3cret")),
            Ok(Identity {
                user: None,
                cluster: true
            })
        );
    }
}
