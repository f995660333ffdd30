//! Where a process finds the shared secret of `spark.authenticate` (Spark's
//! `SecurityManager.getSecretKey`), and which settings are secrets to hide.

use crate::{ConfError, SparkConf, keys};

/// The environment variable through which a worker hands the secret to the executors and
/// drivers it starts, so it is on no command line and in no UI (Spark's
/// `SecurityManager.ENV_AUTH_SECRET`).
pub const AUTH_SECRET_ENV: &str = "_SPARK_AUTH_SECRET";

/// True for a key whose value must never be shown, logged or passed on a command line:
/// Spark's default `spark.redaction.regex`, `secret|password|token|access[.]?key`, any case.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["secret", "password", "token", "accesskey", "access.key"]
        .iter()
        .any(|word| lower.contains(word))
}

/// The settings of `conf` that look secret ([`is_secret_key`]) other than the cluster's own
/// `spark.authenticate.secret*`, which are not passed on to other processes: the caller warns
/// about them.
pub fn withheld_secret_keys(conf: &SparkConf) -> Vec<String> {
    conf.iter()
        .map(|(key, _)| key)
        .filter(|key| is_secret_key(key) && !key.starts_with("spark.authenticate.secret"))
        .map(str::to_string)
        .collect()
}

/// The shared secret every RPC peer must prove it knows, or `None` when `spark.authenticate`
/// is off. Looked for, as Spark does, in [`AUTH_SECRET_ENV`] (set by a worker for its
/// executors and drivers), then `spark.authenticate.secret`, then the file named by
/// `spark.authenticate.secret.file`.
pub fn auth_secret(conf: &SparkConf) -> Result<Option<String>, ConfError> {
    if !conf.value(&keys::AUTHENTICATE)? {
        return Ok(None);
    }
    if let Some(secret) = std::env::var(AUTH_SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(Some(secret));
    }
    let inline = conf.optional(&keys::AUTHENTICATE_SECRET)?;
    let file = conf.optional(&keys::AUTHENTICATE_SECRET_FILE)?;
    let secret = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfError::Inconsistent(format!(
                "set only one of {} and {}",
                keys::AUTHENTICATE_SECRET.key,
                keys::AUTHENTICATE_SECRET_FILE.key
            )));
        }
        (Some(secret), None) => secret,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|e| {
                ConfError::Inconsistent(format!(
                    "cannot read {} {path}: {e}",
                    keys::AUTHENTICATE_SECRET_FILE.key
                ))
            })?
            .trim()
            .to_string(),
        (None, None) => String::new(),
    };
    if secret.is_empty() {
        return Err(ConfError::Inconsistent(format!(
            "A secret key must be specified via the {} config (or {}) when {} is true",
            keys::AUTHENTICATE_SECRET.key,
            keys::AUTHENTICATE_SECRET_FILE.key,
            keys::AUTHENTICATE.key
        )));
    }
    Ok(Some(secret))
}

/// Who runs this process (Spark's `Utils.getCurrentUserName`): `SPARK_USER`, else the login
/// name in `USER`, else `flint`.
pub fn current_user() -> String {
    ["SPARK_USER", "USER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "flint".into())
}

/// Who may see and change what a process serves (Spark's `SecurityManager` ACLs:
/// `spark.acls.enable`, `spark.ui.view.acls`, `spark.modify.acls`, `spark.admin.acls`). The
/// process's owner and the admins may do everything; `*` in a list means everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acls {
    enabled: bool,
    owner: String,
    view: Vec<String>,
    modify: Vec<String>,
    admin: Vec<String>,
    user_header: Option<String>,
}

impl Acls {
    /// The ACLs of `conf`, for a process run by `owner`.
    pub fn from_conf(conf: &SparkConf, owner: &str) -> Result<Self, ConfError> {
        let list = |key: &keys::Key<String>| -> Result<Vec<String>, ConfError> {
            Ok(conf
                .value(key)?
                .split(',')
                .map(str::trim)
                .filter(|user| !user.is_empty())
                .map(str::to_string)
                .collect())
        };
        Ok(Acls {
            enabled: conf.value(&keys::ACLS_ENABLE)?,
            owner: owner.to_string(),
            view: list(&keys::UI_VIEW_ACLS)?,
            modify: list(&keys::MODIFY_ACLS)?,
            admin: list(&keys::ADMIN_ACLS)?,
            user_header: conf
                .optional(&keys::UI_PROXY_USER_HEADER)?
                .filter(|header| !header.is_empty()),
        })
    }

    /// True when `spark.acls.enable` is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The header a trusted proxy names the user in (`spark.ui.proxyUserHeader`).
    pub fn user_header(&self) -> Option<&str> {
        self.user_header.as_deref()
    }

    /// May `user` see pages and state? Always with ACLs off; never for an unknown user.
    pub fn can_view(&self, user: Option<&str>) -> bool {
        self.allows(&self.view, user)
    }

    /// May `user` kill applications and drivers? Always with ACLs off; never for an unknown
    /// user.
    pub fn can_modify(&self, user: Option<&str>) -> bool {
        self.allows(&self.modify, user)
    }

    fn allows(&self, list: &[String], user: Option<&str>) -> bool {
        if !self.enabled {
            return true;
        }
        let Some(user) = user else {
            return false;
        };
        user == self.owner
            || list
                .iter()
                .chain(&self.admin)
                .any(|allowed| allowed == "*" || allowed == user)
    }
}

/// The PEM files of `spark.ssl.*` when `spark.ssl.enabled` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslFiles {
    /// `spark.ssl.certChain`: this process's certificate and its signers.
    pub cert_chain: String,
    /// `spark.ssl.privateKey`: the certificate's private key.
    pub private_key: String,
    /// `spark.ssl.trustStore`: the CA certificates peers' certificates must chain to.
    pub trust_store: String,
}

/// The TLS files to use, or `None` when `spark.ssl.enabled` is off; all three must be set.
pub fn ssl_files(conf: &SparkConf) -> Result<Option<SslFiles>, ConfError> {
    if !conf.value(&keys::SSL_ENABLED)? {
        return Ok(None);
    }
    let required = |key: &keys::OptionalKey<String>| {
        conf.optional(key)?.ok_or_else(|| {
            ConfError::Inconsistent(format!(
                "{} is true but {} is not set: TLS needs a PEM file there",
                keys::SSL_ENABLED.key,
                key.key
            ))
        })
    };
    Ok(Some(SslFiles {
        cert_chain: required(&keys::SSL_CERT_CHAIN)?,
        private_key: required(&keys::SSL_PRIVATE_KEY)?,
        trust_store: required(&keys::SSL_TRUST_STORE)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_comes_from_the_setting_or_its_file() {
        let mut conf = SparkConf::new();
        conf.set("spark.authenticate.secret", "s3cret");
        assert_eq!(
            auth_secret(&conf),
            Ok(None),
            "off unless spark.authenticate"
        );
        conf.set("spark.authenticate", "true");
        assert_eq!(auth_secret(&conf), Ok(Some("s3cret".into())));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        conf.set("spark.authenticate.secret.file", path.to_string_lossy());
        assert!(matches!(
            auth_secret(&conf),
            Err(ConfError::Inconsistent(_))
        ));

        let mut from_file = SparkConf::new();
        from_file.set("spark.authenticate", "true");
        from_file.set("spark.authenticate.secret.file", path.to_string_lossy());
        assert_eq!(auth_secret(&from_file), Ok(Some("from-file".into())));

        let mut missing = SparkConf::new();
        missing.set("spark.authenticate", "true");
        let error = auth_secret(&missing).unwrap_err().to_string();
        assert!(error.contains("spark.authenticate.secret"), "{error}");
    }

    #[test]
    fn tls_needs_all_three_files() {
        let mut conf = SparkConf::new();
        conf.set("spark.ssl.certChain", "cert.pem");
        assert_eq!(ssl_files(&conf), Ok(None));
        conf.set("spark.ssl.enabled", "true");
        conf.set("spark.ssl.privateKey", "key.pem");
        let error = ssl_files(&conf).unwrap_err().to_string();
        assert!(error.contains("spark.ssl.trustStore"), "{error}");
        conf.set("spark.ssl.trustStore", "ca.pem");
        assert_eq!(
            ssl_files(&conf).unwrap().map(|files| files.trust_store),
            Some("ca.pem".into())
        );
    }

    #[test]
    fn acls_let_the_owner_admins_and_listed_users_in() {
        let mut conf = SparkConf::new();
        conf.set("spark.ui.view.acls", "bob, carol");
        conf.set("spark.admin.acls", "alice");
        let off = Acls::from_conf(&conf, "owner").unwrap();
        assert!(off.can_modify(None), "ACLs off: everyone");
        conf.set("spark.acls.enable", "true");
        let acls = Acls::from_conf(&conf, "owner").unwrap();
        for (user, view, modify) in [
            (Some("owner"), true, true),
            (Some("alice"), true, true),
            (Some("bob"), true, false),
            (Some("carol"), true, false),
            (Some("eve"), false, false),
            (None, false, false),
        ] {
            assert_eq!(acls.can_view(user), view, "{user:?} view");
            assert_eq!(acls.can_modify(user), modify, "{user:?} modify");
        }
        conf.set("spark.modify.acls", "*");
        let everyone = Acls::from_conf(&conf, "owner").unwrap();
        assert!(everyone.can_modify(Some("eve")));
        assert!(!everyone.can_view(Some("eve")));
    }

    #[test]
    fn secret_looking_settings_are_withheld_but_not_the_cluster_secret() {
        let mut conf = SparkConf::new();
        conf.set("spark.authenticate.secret", "s");
        conf.set("spark.hadoop.fs.s3a.access.key", "k");
        conf.set("spark.app.name", "a");
        assert_eq!(
            withheld_secret_keys(&conf),
            ["spark.hadoop.fs.s3a.access.key"]
        );
    }

    #[test]
    fn secret_keys_are_recognized() {
        assert!(is_secret_key("spark.authenticate.secret"));
        assert!(is_secret_key("spark.authenticate.secret.file"));
        assert!(is_secret_key("spark.hadoop.fs.s3a.access.key"));
        assert!(!is_secret_key("spark.authenticate"));
    }
}
