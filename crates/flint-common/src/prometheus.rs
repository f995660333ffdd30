//! Prometheus text exposition format (version 0.0.4) for the `/metrics` endpoints of the
//! master, worker and driver UIs: `# HELP`, `# TYPE`, then one sample per line.

use std::fmt::Write;

/// The content type Prometheus expects from a text scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds one scrape's text, metric family by metric family.
#[derive(Debug, Default)]
pub struct PrometheusText {
    out: String,
}

/// A metric family's kind.
#[derive(Debug, Clone, Copy)]
pub enum MetricKind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up (name ends in `_total`).
    Counter,
}

impl PrometheusText {
    /// An empty scrape.
    pub fn new() -> Self {
        Self::default()
    }

    /// One unlabelled sample with its family header.
    pub fn single(&mut self, name: &str, kind: MetricKind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help, &[(vec![], value)])
    }

    /// A family: its header, then each `(labels, value)` sample.
    pub fn family(
        &mut self,
        name: &str,
        kind: MetricKind,
        help: &str,
        samples: &[(Vec<(&str, String)>, f64)],
    ) -> &mut Self {
        let kind = match kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let labels = if labels.is_empty() {
                String::new()
            } else {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                format!("{{{}}}", pairs.join(","))
            };
            let _ = writeln!(self.out, "{name}{labels} {value}");
        }
        self
    }

    /// The scrape's text.
    pub fn finish(self) -> String {
        self.out
    }

    /// The scrape as an HTTP answer: its content-type header and body, which web frameworks
    /// (axum's `IntoResponse`) turn into a response.
    pub fn http(self) -> ([(&'static str, &'static str); 1], String) {
        ([("content-type", CONTENT_TYPE)], self.out)
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_print_in_text_format() {
        let mut text = PrometheusText::new();
        text.single("workers", MetricKind::Gauge, "Workers alive.", 2.0);
        text.family(
            "tasks_total",
            MetricKind::Counter,
            "Tasks by status.",
            &[(vec![("status", "fa\"iled".into())], 3.0)],
        );
        assert_eq!(
            text.finish(),
            "# HELP workers Workers alive.\n# TYPE workers gauge\nworkers 2\n\
             # HELP tasks_total Tasks by status.\n# TYPE tasks_total counter\n\
             tasks_total{status=\"fa\\\"iled\"} 3\n"
        );
    }
}
