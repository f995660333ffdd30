use std::collections::BTreeMap;

use crate::ConfError;
use crate::keys::{ConfValue, Key, OptionalKey};

/// Environment variable through which `flint submit` hands `--master`, `--name` and `--conf`
/// to an application program: one `key=value` per line.
pub const SUBMIT_CONF_ENV: &str = "FLINT_SUBMIT_CONF";

/// An application's configuration (Spark's `SparkConf`): string keys and values, typed getters
/// that fall back to the declared defaults and name key and value on a bad value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparkConf {
    settings: BTreeMap<String, String>,
}

impl SparkConf {
    /// An empty configuration: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration `flint submit` passed through [`SUBMIT_CONF_ENV`], or an empty one.
    pub fn from_submit_env() -> Self {
        let mut conf = Self::new();
        if let Ok(text) = std::env::var(SUBMIT_CONF_ENV) {
            for line in text.lines() {
                if let Some((key, value)) = line.split_once('=') {
                    conf.set(key.trim(), value.trim());
                }
            }
        }
        conf
    }

    /// Reads a properties file as Spark's `spark-defaults.conf`: one `key value` or
    /// `key=value` per line, `#` starts a comment.
    pub fn from_properties_file(path: &std::path::Path) -> Result<Self, ConfError> {
        let error = |message: String| ConfError::PropertiesFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse_properties(&text).map_err(|line| error(format!("line {line} has no value")))
    }

    /// Parses properties text; the error is the 1-based number of a malformed line.
    fn parse_properties(text: &str) -> Result<Self, usize> {
        let mut conf = Self::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let split = line
                .find(|c: char| c == '=' || c.is_whitespace())
                .ok_or(number + 1)?;
            let (key, value) = line.split_at(split);
            let value = value
                .trim_start_matches(|c: char| c == '=' || c.is_whitespace())
                .trim();
            if value.is_empty() {
                return Err(number + 1);
            }
            conf.set(key, value);
        }
        Ok(conf)
    }

    /// Encodes this configuration for [`SUBMIT_CONF_ENV`].
    pub fn to_submit_env(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// Sets a key, replacing any previous value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.settings.insert(key.into(), value.into());
        self
    }

    /// Parses a `KEY=VALUE` argument of `--conf` and sets it.
    pub fn set_pair(&mut self, pair: &str) -> Result<&mut Self, ConfError> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| ConfError::MalformedPair(pair.to_string()))?;
        if key.trim().is_empty() {
            return Err(ConfError::MalformedPair(pair.to_string()));
        }
        Ok(self.set(key.trim(), value.trim()))
    }

    /// Sets every key of `other` that is not set here (lower-precedence values).
    pub fn set_missing_from(&mut self, other: &SparkConf) {
        for (key, value) in &other.settings {
            self.settings
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }

    /// The value set for `key`, without defaults.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// Every explicitly set key and value, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every setting with secrets hidden, sorted by key, for UIs and event logs: the value of
    /// a key that looks secret (Spark's default `spark.redaction.regex`:
    /// `secret|password|token|access[.]?key`, any case) reads `*********(redacted)`.
    pub fn redacted(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .iter()
            .map(|(key, value)| {
                let value = if crate::is_secret_key(key) {
                    "*********(redacted)"
                } else {
                    value
                };
                (key.to_string(), value.to_string())
            })
            .collect();
        pairs.sort();
        pairs
    }

    /// The value of `key`, or its declared default, as its type.
    pub fn value<T: ConfValue>(&self, key: &Key<T>) -> Result<T, ConfError> {
        T::parse(key.key, self.get(key.key).unwrap_or(key.default))
    }

    /// The value of `key` as its type, when set; its reader computes the default.
    pub fn optional<T: ConfValue>(&self, key: &OptionalKey<T>) -> Result<Option<T>, ConfError> {
        self.get(key.key)
            .map(|text| T::parse(key.key, text))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn secrets_are_redacted() {
        let mut conf = SparkConf::new();
        conf.set("spark.master", "local[2]");
        conf.set("spark.authenticate.secret", "s3cret");
        conf.set("spark.hadoop.fs.s3a.access.key", "AKIA");
        conf.set("spark.ssl.keyStorePassword", "pw");
        let redacted = conf.redacted();
        assert_eq!(
            redacted,
            vec![
                (
                    "spark.authenticate.secret".into(),
                    "*********(redacted)".into()
                ),
                (
                    "spark.hadoop.fs.s3a.access.key".into(),
                    "*********(redacted)".into()
                ),
                ("spark.master".into(), "local[2]".into()),
                (
                    "spark.ssl.keyStorePassword".into(),
                    "*********(redacted)".into()
                ),
            ]
        );
    }

    #[test]
    fn typed_values_use_defaults_and_name_bad_values() {
        let mut conf = SparkConf::new();
        assert_eq!(
            conf.value(&keys::EXECUTOR_MEMORY).unwrap(),
            keys::ByteSize(1 << 30)
        );
        assert_eq!(conf.value(&keys::TASK_MAX_FAILURES).unwrap(), 4);
        assert_eq!(conf.optional(&keys::CORES_MAX).unwrap(), None);
        conf.set("spark.task.maxFailures", "abc");
        let err = conf.value(&keys::TASK_MAX_FAILURES).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for spark.task.maxFailures: expected a positive integer"
        );
        conf.set("spark.executor.memory", "512");
        assert_eq!(
            conf.value(&keys::EXECUTOR_MEMORY).unwrap(),
            keys::ByteSize(512 << 20)
        );
        conf.set("spark.cores.max", "6");
        assert_eq!(conf.optional(&keys::CORES_MAX).unwrap(), Some(6));
    }

    #[test]
    fn precedence_keeps_higher_values() {
        let mut code = SparkConf::new();
        code.set("spark.app.name", "from-code");
        let mut submit = SparkConf::new();
        submit.set_pair("spark.app.name=from-submit").unwrap();
        submit.set_pair("spark.master=local[2]").unwrap();
        code.set_missing_from(&submit);
        assert_eq!(code.get("spark.app.name"), Some("from-code"));
        assert_eq!(code.get("spark.master"), Some("local[2]"));
        assert!(submit.set_pair("novalue").is_err());
    }

    #[test]
    fn properties_files_parse_like_spark_defaults() {
        let conf = SparkConf::parse_properties(
            "# comment\nspark.executor.memory   2g\nspark.app.name=nightly report\n\n  spark.x = 1\n",
        )
        .unwrap();
        assert_eq!(conf.get("spark.executor.memory"), Some("2g"));
        assert_eq!(conf.get("spark.app.name"), Some("nightly report"));
        assert_eq!(conf.get("spark.x"), Some("1"));
        assert_eq!(
            SparkConf::parse_properties("spark.ok 1\nspark.novalue\n"),
            Err(2)
        );
        let missing =
            SparkConf::from_properties_file(std::path::Path::new("/no/such/spark-defaults.conf"));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .starts_with("cannot use properties file /no/such/spark-defaults.conf")
        );
    }

    #[test]
    fn submit_env_round_trips() {
        let mut conf = SparkConf::new();
        conf.set("spark.master", "local[3]")
            .set("spark.sql.shuffle.partitions", "7");
        let text = conf.to_submit_env();
        let mut parsed = SparkConf::new();
        for line in text.lines() {
            parsed.set_pair(line).unwrap();
        }
        assert_eq!(parsed, conf);
    }
}
