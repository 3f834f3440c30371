//! [`RepoTree`]: an in-memory RPM repository metadata tree as createrepo_c writes
//! it: `repodata/repomd.xml` plus the data files it references
//! (`<sha256>-primary.xml.gz`, filelists, other, optionally updateinfo, comps
//! group and modules), with true checksums and sizes. Deterministic for a given
//! (revision, label, options); different revisions differ in content and hashes.
//! The documents themselves are written by [`metadata`].

pub mod metadata;

use std::fmt::Write as _;
use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use metadata::{
    comps_xml, filelists_xml, modules_yaml, other_xml, packages, primary_xml, updateinfo_xml,
    Package, NS_REPO, NS_RPM, XML_DECL,
};

/// One `<data>` entry of repomd.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRecord {
    /// `primary`, `filelists`, `other`, `updateinfo`, `group`, `group_gz`, `modules`.
    pub data_type: String,
    /// `repodata/<sha256>-<name>`, relative to the repository root.
    pub href: String,
    /// sha256 of the file as served.
    pub checksum: String,
    pub size: u64,
    /// sha256 and size after decompression (absent for uncompressed files).
    pub open_checksum: Option<String>,
    pub open_size: Option<u64>,
    pub timestamp: u64,
}

/// Options for a `RepoTree`; start with `RepoTree::builder`.
#[derive(Clone, Debug)]
pub struct RepoTreeBuilder {
    revision: u64,
    published_at: Option<u64>,
    label: String,
    packages: usize,
    updateinfo: bool,
    group: bool,
    modules: bool,
}

impl RepoTreeBuilder {
    /// Number of packages in primary/filelists/other (default 2).
    pub fn packages(mut self, n: usize) -> Self {
        self.packages = n;
        self
    }

    /// The repomd `<revision>` and every `<timestamp>` (epoch seconds); by default the
    /// revision itself.
    pub fn published_at(mut self, epoch: u64) -> Self {
        self.published_at = Some(epoch);
        self
    }

    /// Add `updateinfo` (errata).
    pub fn updateinfo(mut self) -> Self {
        self.updateinfo = true;
        self
    }

    /// Add `group` (plain comps.xml) and `group_gz`.
    pub fn group(mut self) -> Self {
        self.group = true;
        self
    }

    /// Add `modules` (modules.yaml.gz).
    pub fn modules(mut self) -> Self {
        self.modules = true;
        self
    }

    pub fn build(self) -> RepoTree {
        let mut tree = RepoTree {
            revision: self.revision,
            published_at: self.published_at.unwrap_or(self.revision),
            label: self.label.clone(),
            packages: packages(&self.label, self.revision, self.packages),
            repomd: Vec::new(),
            files: Vec::new(),
            data: Vec::new(),
        };
        tree.add("primary", "primary.xml", primary_xml(&tree.packages), true);
        tree.add(
            "filelists",
            "filelists.xml",
            filelists_xml(&tree.packages),
            true,
        );
        tree.add(
            "other",
            "other.xml",
            other_xml(&tree.packages, tree.revision),
            true,
        );
        if self.updateinfo {
            tree.add(
                "updateinfo",
                "updateinfo.xml",
                updateinfo_xml(&tree.packages, tree.revision),
                true,
            );
        }
        if self.group {
            let comps = comps_xml(&tree.packages, tree.revision, &tree.label);
            tree.add("group", "comps.xml", comps.clone(), false);
            tree.add("group_gz", "comps.xml", comps, true);
        }
        if self.modules {
            tree.add(
                "modules",
                "modules.yaml",
                modules_yaml(&tree.packages, tree.revision),
                true,
            );
        }
        tree.repomd = repomd_xml(tree.published_at, &tree.data).into_bytes();
        tree
    }
}

/// A generated repository metadata tree.
#[derive(Clone, Debug)]
pub struct RepoTree {
    revision: u64,
    published_at: u64,
    label: String,
    packages: Vec<Package>,
    repomd: Vec<u8>,
    /// Data files (not repomd.xml), in repomd order.
    files: Vec<(String, Vec<u8>)>,
    data: Vec<DataRecord>,
}

impl RepoTree {
    /// primary, filelists and other with two packages.
    pub fn new(revision: u64, label: &str) -> RepoTree {
        RepoTree::builder(revision, label).build()
    }

    /// `revision` versions the packages and, unless [`RepoTreeBuilder::published_at`]
    /// says otherwise, is the repomd `<revision>` and every `<timestamp>` (epoch
    /// seconds); `label` seeds package names and ids (e.g. `"baseos"`).
    pub fn builder(revision: u64, label: &str) -> RepoTreeBuilder {
        RepoTreeBuilder {
            revision,
            published_at: None,
            label: label.to_string(),
            packages: 2,
            updateinfo: false,
            group: false,
            modules: false,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    pub fn package_names(&self) -> Vec<String> {
        self.packages.iter().map(|p| p.name.clone()).collect()
    }

    /// Every file relative to the repository root: `repodata/repomd.xml` first,
    /// then the data files.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut all = vec![("repodata/repomd.xml".to_string(), self.repomd.clone())];
        all.extend(self.files.iter().cloned());
        all
    }

    /// repomd.xml and the data files as (record, bytes), in repomd order, without copies.
    pub fn into_parts(self) -> (Vec<u8>, Vec<(DataRecord, Vec<u8>)>) {
        let files = self.files.into_iter().map(|(_, bytes)| bytes);
        (self.repomd, self.data.into_iter().zip(files).collect())
    }

    pub fn repomd_xml(&self) -> &[u8] {
        &self.repomd
    }

    /// Lower-case hex sha256 of repomd.xml.
    pub fn repomd_sha256(&self) -> String {
        sha256_hex(&self.repomd)
    }

    /// (href, size) of every data file referenced by repomd.xml.
    pub fn data_files(&self) -> Vec<(String, u64)> {
        self.data.iter().map(|d| (d.href.clone(), d.size)).collect()
    }

    /// The `<data>` entries, in repomd order.
    pub fn data_records(&self) -> &[DataRecord] {
        &self.data
    }

    /// The href of the data of that type, e.g. `href("primary")`.
    pub fn href(&self, data_type: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|d| d.data_type == data_type)
            .map(|d| d.href.as_str())
    }

    /// Stores `open` (gzipped if `compress`) as `repodata/<sha256>-<name>[.gz]`.
    fn add(&mut self, data_type: &str, name: &str, open: String, compress: bool) {
        let open = open.into_bytes();
        let (bytes, open_info) = if compress {
            (gzip(&open), Some((sha256_hex(&open), open.len() as u64)))
        } else {
            (open, None)
        };
        let checksum = sha256_hex(&bytes);
        let ext = if compress { ".gz" } else { "" };
        let href = format!("repodata/{checksum}-{name}{ext}");
        self.data.push(DataRecord {
            data_type: data_type.to_string(),
            href: href.clone(),
            checksum,
            size: bytes.len() as u64,
            open_checksum: open_info.as_ref().map(|(c, _)| c.clone()),
            open_size: open_info.map(|(_, s)| s),
            timestamp: self.published_at,
        });
        self.files.push((href, bytes));
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail; an empty file would only show up as a size mismatch.
    match encoder.write_all(bytes) {
        Ok(()) => encoder.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn repomd_xml(revision: u64, data: &[DataRecord]) -> String {
    let mut x = format!("{XML_DECL}<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">\n");
    let _ = writeln!(x, "  <revision>{revision}</revision>");
    x.push_str("  <tags>\n    <content>binary-x86_64</content>\n  </tags>\n");
    for d in data {
        let _ = writeln!(x, "  <data type=\"{}\">", d.data_type);
        let _ = writeln!(x, "    <checksum type=\"sha256\">{}</checksum>", d.checksum);
        if let Some(open) = &d.open_checksum {
            let _ = writeln!(
                x,
                "    <open-checksum type=\"sha256\">{open}</open-checksum>"
            );
        }
        let _ = writeln!(x, "    <location href=\"{}\"/>", d.href);
        let _ = writeln!(x, "    <timestamp>{}</timestamp>", d.timestamp);
        let _ = writeln!(x, "    <size>{}</size>", d.size);
        if let Some(open_size) = d.open_size {
            let _ = writeln!(x, "    <open-size>{open_size}</open-size>");
        }
        x.push_str("  </data>\n");
    }
    x.push_str("</repomd>\n");
    x
}
