//! Serving a web UI and its JSON API (master, worker, driver, history server) with the same
//! protection as RPC: with `spark.authenticate` on, every request must carry the secret, as
//! the password of HTTP basic authentication (what a browser prompts for; the user name is
//! not checked) or as a bearer token (for scripts and proxies). With `spark.acls.enable`,
//! users named by a trusted proxy's header get only the rights the ACLs give them; requests
//! that change something (kill links) must come from the UI's own pages, not another site.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use base64::Engine;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::RpcSecurity;
use crate::tls::ServerConnection;

/// Who sent a web request, as far as this server knows: the user a trusted proxy named
/// (`spark.ui.proxyUserHeader`). Handlers find it in the request's extensions.
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
    // Pages and state are read with GET; kills are POSTs.
    let modify = !matches!(*request.method(), Method::GET | Method::HEAD);
    if modify && let Some(origin) = cross_site(request.headers()) {
        tracing::warn!(
            "Refused a cross-site {} of {} from {peer} ({origin})",
            request.method(),
            request.uri().path()
        );
        return (
            StatusCode::FORBIDDEN,
            "403 Forbidden: only this UI's own pages may change something\n",
        )
            .into_response();
    }
    let acls = security.acls();
    if acls.enabled() && !identity.cluster {
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
    /// The user a trusted proxy named, if any.
    user: Option<String>,
    /// The request proved the secret and named no user: the cluster itself, or someone
    /// holding its secret, who can do anything over RPC anyway; ACLs do not limit it.
    cluster: bool,
}

/// Who sent a request, or why it is refused. With authentication on it must prove the
/// secret. A trusted proxy's header (`spark.ui.proxyUserHeader`) then names the user the
/// proxy authenticated, whose rights the ACLs decide. The user name of basic authentication
/// is whatever the browser was given, so it names nobody.
fn identify(security: &RpcSecurity, headers: &HeaderMap) -> Result<Identity, &'static str> {
    let proved = if security.authenticates() {
        proves_secret(security, headers)?;
        true
    } else {
        false
    };
    let proxied = security
        .acls()
        .user_header()
        .and_then(|header| headers.get(header))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|user| !user.is_empty());
    Ok(match proxied {
        Some(user) => Identity {
            user: Some(user.to_string()),
            cluster: false,
        },
        None => Identity {
            user: None,
            cluster: proved,
        },
    })
}

/// Whether the request proves the secret (bearer token, or the password of basic
/// authentication), or why not.
fn proves_secret(security: &RpcSecurity, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err("no credentials");
    };
    let value = value.to_str().map_err(|_| "unreadable credentials")?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return if security.accepts_token(token.trim()) {
            Ok(())
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
    let (_user, password) = decoded
        .split_once(':')
        .ok_or("malformed basic credentials")?;
    if security.accepts_token(password) {
        Ok(())
    } else {
        Err("a wrong password")
    }
}

/// Where a browser sent this request from, when that is another site (a hostile page's form
/// posting to a kill link with the user's cached credentials): its `Sec-Fetch-Site` says so,
/// or its `Origin` is not the host it was sent to. Scripts send neither and pass.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("unreadable");
        return (!matches!(site, "same-origin" | "none"))
            .then(|| format!("Sec-Fetch-Site: {site}"));
    }
    let origin = headers.get(ORIGIN)?.to_str().unwrap_or("unreadable");
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    (origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host))
        .then(|| format!("Origin: {origin}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn basic(text: &str) -> HeaderMap {
        headers(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        ))
    }

    #[test]
    fn basic_and_bearer_credentials_prove_the_secret() {
        let security = RpcSecurity::new(Some("s3cret".into()));
        assert_eq!(proves_secret(&security, &basic("alice:s3cret")), Ok(()));
        assert_eq!(proves_secret(&security, &basic(":s3cret")), Ok(()));
        assert!(proves_secret(&security, &basic("alice:wrong")).is_err());
        assert!(proves_secret(&security, &basic("alice")).is_err());
        assert_eq!(proves_secret(&security, &headers("Bearer s3cret")), Ok(()));
        assert!(proves_secret(&security, &headers("Bearer nope")).is_err());
        assert!(proves_secret(&security, &headers("Basic !!!")).is_err());
        assert!(proves_secret(&security, &HeaderMap::new()).is_err());
    }

    #[test]
    fn only_a_proxy_names_the_user_and_only_with_the_secret() {
        let mut conf = flint_conf::SparkConf::new();
        conf.set("spark.authenticate", "true");
        conf.set("spark.authenticate.secret", "s3cret");
        conf.set("spark.ui.proxyUserHeader", "X-Forwarded-User");
        let security = RpcSecurity::from_conf(&conf).unwrap();
        let mut proxied = headers("Bearer s3cret");
        proxied.insert("x-forwarded-user", "bob".parse().unwrap());
        let bob = Identity {
            user: Some("bob".into()),
            cluster: false,
        };
        assert_eq!(identify(&security, &proxied), Ok(bob));
        let mut forged = HeaderMap::new();
        forged.insert("x-forwarded-user", "bob".parse().unwrap());
        assert!(identify(&security, &forged).is_err(), "no secret, no user");
        let cluster = Identity {
            user: None,
            cluster: true,
        };
        assert_eq!(identify(&security, &headers("Bearer s3cret")), Ok(cluster));
        // A basic user name is whatever the browser was given: it names nobody.
        let cluster = Identity {
            user: None,
            cluster: true,
        };
        assert_eq!(identify(&security, &basic("alice:s3cret")), Ok(cluster));
    }

    #[test]
    fn changes_from_another_site_are_refused() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            headers
        };
        assert_eq!(cross_site(&HeaderMap::new()), None, "a script");
        assert_eq!(
            cross_site(&with(&[("sec-fetch-site", "same-origin")])),
            None
        );
        assert!(cross_site(&with(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&with(&[("sec-fetch-site", "same-site")])).is_some());
        let same = with(&[("origin", "http://m:8080"), ("host", "m:8080")]);
        assert_eq!(cross_site(&same), None);
        let other = with(&[("origin", "https://evil.example"), ("host", "m:8080")]);
        assert!(cross_site(&other).is_some());
        assert!(cross_site(&with(&[("origin", "null"), ("host", "m:8080")])).is_some());
    }
}
