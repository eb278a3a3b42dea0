//! The counters `GET /metrics` exposes in the Prometheus text format: the Router's agent
//! metrics (openapi.yaml names `GET /metrics` among the routes it cannot describe), counted by the emulator.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds (seconds) of the duration histograms' buckets.
const BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0];

/// A Prometheus histogram: per-bucket counts (not cumulative), the sum and the count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// What the emulator counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (template, outcome) → ended invokes.
    invokes: BTreeMap<(String, String), u64>,
    invoke_duration: BTreeMap<String, Histogram>,
    /// template → invokes refused with 429 concurrency_exceeded.
    throttled: BTreeMap<String, u64>,
    /// (template, outcome) → ended configure streams.
    configures: BTreeMap<(String, String), u64>,
    configure_duration: BTreeMap<String, Histogram>,
}

impl Metrics {
    /// An invoke stream ended; `outcome` is its exit reason (`completed`, `canceled`,
    /// `timeout`, `error`).
    pub(crate) fn invoke_ended(&mut self, template: &str, outcome: &str, took: Duration) {
        *self
            .invokes
            .entry((template.to_string(), outcome.to_string()))
            .or_default() += 1;
        self.invoke_duration
            .entry(template.to_string())
            .or_default()
            .observe(took);
    }

    /// An invoke was refused over the concurrency cap.
    pub(crate) fn invoke_throttled(&mut self, template: &str) {
        *self.throttled.entry(template.to_string()).or_default() += 1;
    }

    /// A configure stream ended; `outcome` is `success`, `failure` (the install exited
    /// non-zero), `error` (an `error` event) or `canceled` (the client went away).
    pub(crate) fn configure_ended(&mut self, template: &str, outcome: &str, took: Duration) {
        *self
            .configures
            .entry((template.to_string(), outcome.to_string()))
            .or_default() += 1;
        self.configure_duration
            .entry(template.to_string())
            .or_default()
            .observe(took);
    }

    /// The text exposition format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "agenttier_invoke_requests_total",
            "Agent invocations that ended, by template and outcome.",
            self.invokes
                .iter()
                .map(|((t, o), n)| (labels(&[("outcome", o), ("template", t)]), *n)),
        );
        histogram(
            &mut out,
            "agenttier_invoke_duration_seconds",
            "How long agent invocations ran, by template.",
            &self.invoke_duration,
        );
        counter(
            &mut out,
            "agenttier_invoke_throttled_total",
            "Agent invocations refused over the per-sandbox concurrency cap, by template.",
            self.throttled
                .iter()
                .map(|(t, n)| (labels(&[("template", t)]), *n)),
        );
        counter(
            &mut out,
            "agenttier_configure_requests_total",
            "Agent configure calls that ended, by template and outcome.",
            self.configures
                .iter()
                .map(|((t, o), n)| (labels(&[("outcome", o), ("template", t)]), *n)),
        );
        histogram(
            &mut out,
            "agenttier_configure_duration_seconds",
            "How long agent configure calls ran, by template.",
            &self.configure_duration,
        );
        out
    }
}

/// `{a="x",b="y"}` with the exposition format's escaping.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, samples: impl Iterator<Item = (String, u64)>) {
    header(out, name, help, "counter");
    for (labels, n) in samples {
        let _ = writeln!(out, "{name}{labels} {n}");
    }
}

fn histogram(out: &mut String, name: &str, help: &str, by_template: &BTreeMap<String, Histogram>) {
    header(out, name, help, "histogram");
    for (template, h) in by_template {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let le = labels(&[("template", template), ("le", &bound.to_string())]);
            let _ = writeln!(out, "{name}_bucket{le} {cumulative}");
        }
        let inf = labels(&[("template", template), ("le", "+Inf")]);
        let _ = writeln!(out, "{name}_bucket{inf} {}", h.count);
        let t = labels(&[("template", template)]);
        let _ = writeln!(out, "{name}_sum{t} {}", h.sum);
        let _ = writeln!(out, "{name}_count{t} {}", h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let mut m = Metrics::default();
        m.invoke_ended("agent-python", "completed", Duration::from_millis(200));
        m.invoke_ended("agent-python", "completed", Duration::from_secs(2));
        m.invoke_throttled("a\"b");
        let text = m.render();
        assert!(text.contains("# TYPE agenttier_invoke_requests_total counter\n"));
        assert!(text.contains(
            "agenttier_invoke_requests_total{outcome=\"completed\",template=\"agent-python\"} 2\n"
        ));
        assert!(text.contains(
            "agenttier_invoke_duration_seconds_bucket{template=\"agent-python\",le=\"0.5\"} 1\n"
        ));
        assert!(text.contains(
            "agenttier_invoke_duration_seconds_bucket{template=\"agent-python\",le=\"5\"} 2\n"
        ));
        assert!(text.contains(
            "agenttier_invoke_duration_seconds_bucket{template=\"agent-python\",le=\"+Inf\"} 2\n"
        ));
        assert!(
            text.contains("agenttier_invoke_duration_seconds_count{template=\"agent-python\"} 2\n")
        );
        assert!(text.contains("agenttier_invoke_throttled_total{template=\"a\\\"b\"} 1\n"));
        assert!(text.contains("# TYPE agenttier_configure_requests_total counter\n"));
    }
}
