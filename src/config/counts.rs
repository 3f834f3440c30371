//! The counts of the settings that must be at least 1 (`probe.per_host`, `health.down_after`,
//! ...): `NonZero*` in the model, so nothing after loading checks them again. A 0 cannot be
//! read into one, and failing the whole section for it would hide the section's other
//! values and problems, so a 0 is taken out before its section is read and reported with
//! the other broken rules by [`Settings::check`](super::Settings::check).

use std::num::{NonZeroU32, NonZeroU64};

use serde::{Deserialize, Deserializer};

/// The counts that must be at least 1, in the order
/// [`Settings::check`](super::Settings::check) reports them.
pub const COUNTS: [&str; 10] = [
    "probe.concurrency",
    "probe.per_host",
    "probe.max_body_bytes",
    "freshness.history",
    "health.down_after",
    "health.up_after",
    "serve.mirrorlist_length",
    "serve.max_connections",
    "serve.max_connections_per_client",
    "serve.max_header_bytes",
];

/// Takes the counts written as 0 out of the settings section `name` (so that it reads with
/// their defaults) and returns their paths.
pub fn take_zero_counts(name: &str, section: &mut serde_yaml::Value) -> Vec<&'static str> {
    let mut zeros = Vec::new();
    let serde_yaml::Value::Mapping(map) = section else {
        return zeros;
    };
    for path in COUNTS {
        let Some(key) = path.strip_prefix(name).and_then(|k| k.strip_prefix('.')) else {
            continue;
        };
        if map.get(key).and_then(serde_yaml::Value::as_u64) == Some(0) {
            map.remove(key);
            zeros.push(path);
        }
    }
    zeros
}

/// A count's type in the model and the integer the file writes it as.
pub(super) trait Count: Sized {
    type Written: for<'de> Deserialize<'de>;
    fn new(n: Self::Written) -> Option<Self>;
}

impl Count for NonZeroU32 {
    type Written = u32;
    fn new(n: u32) -> Option<Self> {
        NonZeroU32::new(n)
    }
}

impl Count for NonZeroU64 {
    type Written = u64;
    fn new(n: u64) -> Option<Self> {
        NonZeroU64::new(n)
    }
}

/// serde adapter for a count: read as the plain integer the file writes (so that a value of
/// the wrong type is reported as before). A 0 is taken out first ([`take_zero_counts`]).
pub(super) fn count<'de, D: Deserializer<'de>, N: Count>(deserializer: D) -> Result<N, D::Error> {
    let n = N::Written::deserialize(deserializer)?;
    N::new(n).ok_or_else(|| serde::de::Error::custom("must be at least 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_written_as_zero_are_reported_with_their_section_read() {
        for path in COUNTS {
            let (section, key) = path.split_once('.').unwrap();
            let text = format!("{key}: 0\n");
            let mut value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            let read = |v: serde_yaml::Value| match section {
                "probe" => {
                    serde_yaml::from_value::<super::super::settings::ProbeSettings>(v).map(drop)
                }
                "freshness" => {
                    serde_yaml::from_value::<super::super::settings::FreshnessSettings>(v).map(drop)
                }
                "health" => {
                    serde_yaml::from_value::<super::super::settings::HealthSettings>(v).map(drop)
                }
                "serve" => {
                    serde_yaml::from_value::<super::super::settings::ServeSettings>(v).map(drop)
                }
                other => panic!("{other}"),
            };
            // Read as it is, the 0 fails the section: the key is a count of that section.
            let error = read(value.clone()).unwrap_err().to_string();
            assert!(error.contains("must be at least 1"), "{path}: {error}");
            assert_eq!(take_zero_counts(section, &mut value), vec![path]);
            read(value).unwrap();
            let mut out = Vec::new();
            let mut diag =
                super::super::diag::FileDiag::new(std::path::Path::new("x.yaml"), "", &mut out);
            let settings = super::super::Settings {
                zero_counts: vec![path],
                ..super::super::Settings::default()
            };
            settings.check(&mut diag);
            assert_eq!(out.len(), 1);
            assert_eq!(
                (out[0].path.as_str(), out[0].message.as_str()),
                (path, "must be at least 1")
            );
        }
    }
}
