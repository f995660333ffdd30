//! Serving a web UI and its JSON API (master, worker, driver, history server) with the same
//! protection as RPC: with `spark.authenticate` on, every request must carry the secret, as
//! the password of HTTP basic authentication (what a browser prompts for; the user name is
//! the requester's) or as a bearer token (for scripts).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
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
    if !security.authenticates() {
        request.extensions_mut().insert(WebUser(None));
        return next.run(request).await;
    }
    match authenticated_user(&security, request.headers()) {
        Ok(user) => {
            request.extensions_mut().insert(WebUser(user));
            next.run(request).await
        }
        Err(why) => {
            tracing::warn!(
                "Refused a web request from {peer} for {}: {why} (spark.authenticate is on)",
                request.uri().path()
            );
            (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Basic realm=\"Flint\", charset=\"UTF-8\"")],
                "401 Unauthorized: this UI requires the cluster's secret (spark.authenticate.secret) as the password\n",
            )
                .into_response()
        }
    }
}

/// The user of a request that proves the secret (`None` for a bearer token), or why it
/// does not.
fn authenticated_user(
    security: &RpcSecurity,
    headers: &HeaderMap,
) -> Result<Option<String>, &'static str> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err("no credentials");
    };
    let value = value.to_str().map_err(|_| "unreadable credentials")?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return if security.accepts_token(token.trim()) {
            Ok(None)
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
        Ok(Some(user.to_string()).filter(|user| !user.is_empty()))
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
            Ok(Some("alice".into()))
        );
        assert_eq!(authenticated_user(&security, &basic(":s3cret")), Ok(None));
        assert!(authenticated_user(&security, &basic("alice:wrong")).is_err());
        assert!(authenticated_user(&security, &basic("alice")).is_err());
        assert_eq!(
            authenticated_user(&security, &headers("Bearer s3cret")),
            Ok(None)
        );
        assert!(authenticated_user(&security, &headers("Bearer nope")).is_err());
        assert!(authenticated_user(&security, &headers("Basic !!!")).is_err());
        assert!(authenticated_user(&security, &HeaderMap::new()).is_err());
    }
}
