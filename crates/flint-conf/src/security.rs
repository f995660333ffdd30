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
    fn secret_keys_are_recognized() {
        assert!(is_secret_key("spark.authenticate.secret"));
        assert!(is_secret_key("spark.authenticate.secret.file"));
        assert!(is_secret_key("spark.hadoop.fs.s3a.access.key"));
        assert!(!is_secret_key("spark.authenticate"));
    }
}
