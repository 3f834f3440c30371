//! One published revision of one repository directory, as the simulated sites serve it: the
//! metadata of [`crate::repodata`] in shared byte buffers, with the validators a web server
//! gives it.
//!
//! One [`Revision`] is generated per (directory, revision number) when the upstream
//! publishes, and every site that serves that revision shares it through an `Arc`: a network
//! of 530 mirrors × 136 directories costs one copy of each revision, not one per mirror.

use std::time::{Duration, SystemTime};

use hyper::body::Bytes;

use crate::repodata::{sha256_hex, RepoTree};

/// One data file of a revision (`repodata/<sha256>-primary.xml.gz`, ...).
#[derive(Debug)]
pub struct DataFile {
    pub data_type: String,
    /// Relative to the repository directory, as written in repomd.xml.
    pub href: String,
    pub bytes: Bytes,
}

/// One published revision of one repository directory.
#[derive(Debug)]
pub struct Revision {
    /// 0 for the content the simulation starts with, then 1, 2, ... per directory.
    pub number: u32,
    /// Unix seconds.
    pub published_at: f64,
    pub repomd: Bytes,
    /// Lower-case hex sha256 of `repomd`: the identity mirrorwatch compares.
    pub sha256: String,
    /// A strong validator for conditional GETs.
    pub etag: String,
    /// The upstream's modification time (rsync keeps it on every mirror).
    pub last_modified: String,
    pub data: Vec<DataFile>,
}

impl Revision {
    /// The metadata of `dir` (`9.8/BaseOS/x86_64/os/`) at revision `number`, published at
    /// `published_at` (unix seconds). Deterministic for the same arguments.
    pub fn generate(dir: &str, number: u32, published_at: f64) -> Revision {
        let stamp = published_at.max(0.0) as u64;
        let tree = RepoTree::builder(u64::from(number), dir)
            .published_at(stamp)
            .build();
        let (repomd, files) = tree.into_parts();
        let data = files
            .into_iter()
            .map(|(record, bytes)| DataFile {
                data_type: record.data_type,
                href: record.href,
                bytes: Bytes::from(bytes),
            })
            .collect();
        let sha256 = sha256_hex(&repomd);
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(stamp);
        Revision {
            number,
            published_at,
            etag: format!("\"{}\"", sha256.get(..16).unwrap_or(&sha256)),
            sha256,
            last_modified: httpdate::fmt_http_date(modified),
            repomd: Bytes::from(repomd),
            data,
        }
    }

    /// The data file at `href` (relative to the repository directory).
    pub fn file(&self, href: &str) -> Option<&DataFile> {
        self.data.iter().find(|d| d.href == href)
    }

    /// The href of the primary file: what a partial sync leaves out.
    pub fn primary_href(&self) -> Option<&str> {
        self.data
            .iter()
            .find(|d| d.data_type == "primary")
            .map(|d| d.href.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn repomd_lists_every_data_file_with_its_real_checksum_and_size() {
        let rev = Revision::generate("9.8/BaseOS/x86_64/os/", 3, 1_700_000_000.0);
        let parsed = crate::xml::parse(&rev.repomd).expect("our repomd.xml parses");
        let text = String::from_utf8_lossy(&rev.repomd).to_string();
        assert_eq!(rev.data.len(), 3);
        for file in &rev.data {
            assert!(text.contains(&format!("<size>{}</size>", file.bytes.len())));
            assert!(text.contains(&sha256_hex(&file.bytes)));
            assert!(file
                .href
                .starts_with(&format!("repodata/{}", sha256_hex(&file.bytes))));
        }
        let stamps: Vec<&str> = parsed
            .children_named("data")
            .filter_map(|d| d.child_text("timestamp"))
            .collect();
        assert_eq!(stamps, ["1700000000"; 3]);
        assert_eq!(parsed.child_text("revision"), Some("1700000000"));
        assert_eq!(rev.sha256, sha256_hex(&rev.repomd));
    }

    #[test]
    fn revisions_differ_and_are_deterministic() {
        let a = Revision::generate("9.8/BaseOS/x86_64/os/", 1, 1_700_000_000.0);
        let b = Revision::generate("9.8/BaseOS/x86_64/os/", 2, 1_700_000_000.0);
        let c = Revision::generate("9.8/AppStream/x86_64/os/", 1, 1_700_000_000.0);
        let again = Revision::generate("9.8/BaseOS/x86_64/os/", 1, 1_700_000_000.0);
        assert_ne!(a.sha256, b.sha256);
        assert_ne!(a.sha256, c.sha256);
        assert_eq!(a.sha256, again.sha256);
        assert!(a.primary_href().is_some_and(|h| a.file(h).is_some()));
    }
}
