//! Building metric families for one scrape: the `prometheus` crate's plain model
//! (`MetricFamily`, `Metric`, `LabelPair`), filled directly rather than through
//! `GaugeVec`s in a registry, with the `vantage` label put on every series here so
//! that no caller can forget it.

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

/// Every family of one scrape, in the order they were added.
pub(super) struct Exposition {
    vantage: Option<LabelPair>,
    families: Vec<MetricFamily>,
}

impl Exposition {
    /// An empty exposition; a non-empty `vantage` becomes a label on every series.
    pub(super) fn new(vantage: &str) -> Self {
        Exposition {
            vantage: (!vantage.is_empty()).then(|| label("vantage", vantage)),
            families: Vec::new(),
        }
    }

    pub(super) fn gauge(&self, name: &'static str, help: &'static str) -> Family {
        self.family(MetricType::GAUGE, name, help)
    }

    pub(super) fn counter(&self, name: &'static str, help: &'static str) -> Family {
        self.family(MetricType::COUNTER, name, help)
    }

    pub(super) fn histogram(&self, name: &'static str, help: &'static str) -> Family {
        self.family(MetricType::HISTOGRAM, name, help)
    }

    fn family(&self, kind: MetricType, name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            vantage: self.vantage.clone(),
            metrics: Vec::new(),
        }
    }

    /// Add a finished family. One without samples is dropped: the text encoder refuses
    /// empty families, and an absent series is the right answer for "nothing known".
    pub(super) fn add(&mut self, family: Family) {
        if family.metrics.is_empty() {
            return;
        }
        let mut mf = MetricFamily::default();
        mf.set_name(family.name.to_owned());
        mf.set_help(family.help.to_owned());
        mf.set_field_type(family.kind);
        mf.set_metric(family.metrics);
        self.families.push(mf);
    }

    /// The families sorted by name, so that the exposition reads the same on every scrape,
    /// and the size of their text, closely enough to allocate the output once.
    pub(super) fn into_families(mut self) -> (Vec<MetricFamily>, usize) {
        self.families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut size = 0;
        for family in &self.families {
            size += family.help().len() + 2 * family.name().len() + 32;
            for metric in family.get_metric() {
                // Name, braces, value; a histogram repeats it per bucket (and 3 more).
                let labels: usize = metric
                    .get_label()
                    .iter()
                    .map(|l| l.name().len() + l.value().len() + 4)
                    .sum();
                let lines = metric.get_histogram().get_bucket().len() + 1;
                size += lines * (family.name().len() + labels + 40);
            }
        }
        (self.families, size)
    }
}

/// The samples of one metric family, collected before it is added to the exposition.
pub(super) struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    vantage: Option<LabelPair>,
    metrics: Vec<Metric>,
}

impl Family {
    /// Room for `n` more series: the families of a large network grow to tens of thousands
    /// of series, and growing them by doubling moves (and frees) large blocks repeatedly.
    pub(super) fn reserve(&mut self, n: usize) {
        self.metrics.reserve(n);
    }

    /// One sample of a gauge or counter. A value that is not finite is skipped: the text
    /// format has no spelling for Rust's `inf`, and NaN would only hide a bug upstream.
    pub(super) fn set(&mut self, labels: &[(&'static str, &str)], value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut metric = Metric::from_label(self.labels(labels));
        match self.kind {
            MetricType::COUNTER => {
                let mut counter = Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
            _ => {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
        }
        self.metrics.push(metric);
    }

    /// A 0/1 sample.
    pub(super) fn set_bool(&mut self, labels: &[(&'static str, &str)], value: bool) {
        self.set(labels, if value { 1.0 } else { 0.0 });
    }

    /// One histogram: `buckets` are (upper bound, cumulative count) in increasing order,
    /// without `+Inf`, which the encoder writes from `count`.
    pub(super) fn set_histogram(
        &mut self,
        labels: &[(&'static str, &str)],
        buckets: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) {
        let mut histogram = Histogram::default();
        histogram.set_sample_count(count);
        histogram.set_sample_sum(sum);
        histogram.set_bucket(
            buckets
                .iter()
                .map(|&(upper_bound, cumulative)| {
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(upper_bound);
                    bucket.set_cumulative_count(cumulative);
                    bucket
                })
                .collect(),
        );
        let mut metric = Metric::from_label(self.labels(labels));
        metric.set_histogram(histogram);
        self.metrics.push(metric);
    }

    /// The label pairs of one series, vantage included, sorted by name as the
    /// `prometheus` crate's own vectors write them.
    fn labels(&self, labels: &[(&'static str, &str)]) -> Vec<LabelPair> {
        let mut pairs = Vec::with_capacity(labels.len() + 1);
        pairs.extend(labels.iter().map(|(name, value)| label(name, value)));
        pairs.extend(self.vantage.iter().cloned());
        pairs.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        pairs
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}
