//! Repository metadata as createrepo_c writes it: `repodata/repomd.xml` and the gzip'ed
//! primary, filelists and other files it lists, with their real sha256 checksums and sizes.
//!
//! One [`Revision`] is generated per (directory, revision number) when the upstream
//! publishes, and every site that serves that revision shares it through an `Arc`: a network
//! of 530 mirrors × 136 directories costs one copy of each revision, not one per mirror.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use hyper::body::Bytes;
use sha2::{Digest, Sha256};

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";
const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";

/// Packages per generated repository: enough for well-formed metadata, small enough that a
/// revision of every directory of the AlmaLinux layout fits in a few hundred kilobytes.
const PACKAGES: usize = 2;

/// One data file of a revision (`repodata/<sha256>-primary.xml.gz`, ...).
#[derive(Debug)]
pub struct DataFile {
    pub data_type: &'static str,
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
        let packages = packages(dir, number);
        let mut data = Vec::new();
        let mut records = String::new();
        for (data_type, name, open) in [
            ("primary", "primary.xml", primary_xml(&packages)),
            ("filelists", "filelists.xml", filelists_xml(&packages)),
            ("other", "other.xml", other_xml(&packages, number)),
        ] {
            let gz = gzip(open.as_bytes());
            let checksum = sha256_hex(&gz);
            let href = format!("repodata/{checksum}-{name}.gz");
            let _ = write!(
                records,
                "  <data type=\"{data_type}\">\n    <checksum type=\"sha256\">{checksum}</checksum>\n    \
<open-checksum type=\"sha256\">{open_sum}</open-checksum>\n    <location href=\"{href}\"/>\n    \
<timestamp>{stamp}</timestamp>\n    <size>{size}</size>\n    <open-size>{open_size}</open-size>\n  </data>\n",
                open_sum = sha256_hex(open.as_bytes()),
                size = gz.len(),
                open_size = open.len(),
            );
            data.push(DataFile {
                data_type,
                href,
                bytes: Bytes::from(gz),
            });
        }
        // createrepo_c writes the generation time as <revision>.
        let repomd = format!(
            "{XML_DECL}<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">\n  <revision>{stamp}</revision>\n{records}</repomd>\n"
        );
        let sha256 = sha256_hex(repomd.as_bytes());
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

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail; an empty file would only show up as a size mismatch.
    match encoder.write_all(bytes) {
        Ok(()) => encoder.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

struct Package {
    name: String,
    version: String,
    pkgid: String,
}

/// Package names from the directory (`9.8/BaseOS/x86_64/os/` → `baseos-...`), versions
/// from the revision, so that each revision's files differ.
fn packages(dir: &str, number: u32) -> Vec<Package> {
    let slug: String = dir
        .split('/')
        .nth(1)
        .unwrap_or("repo")
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .collect();
    ["tool", "lib"]
        .iter()
        .take(PACKAGES)
        .map(|kind| {
            let name = format!("{slug}-{kind}");
            let version = format!("1.{number}");
            Package {
                pkgid: sha256_hex(format!("{dir}|{name}|{version}").as_bytes()),
                name,
                version,
            }
        })
        .collect()
}

fn primary_xml(packages: &[Package]) -> String {
    let mut x = format!(
        "{XML_DECL}<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        let (n, v) = (&p.name, &p.version);
        let _ = write!(
            x,
            "<package type=\"rpm\">\n  <name>{n}</name>\n  <arch>noarch</arch>\n  \
<version epoch=\"0\" ver=\"{v}\" rel=\"1.sim\"/>\n  \
<checksum type=\"sha256\" pkgid=\"YES\">{id}</checksum>\n  <summary>Simulated package {n}</summary>\n  \
<description>A package of the mirrorwatch simulator.</description>\n  <packager>mirrorwatch</packager>\n  \
<url>https://example.invalid/{n}</url>\n  <time file=\"1700000000\" build=\"1700000000\"/>\n  \
<size package=\"10240\" installed=\"40960\" archive=\"41200\"/>\n  \
<location href=\"Packages/{n}-{v}-1.sim.noarch.rpm\"/>\n  <format>\n    <rpm:license>MIT</rpm:license>\n    \
<rpm:sourcerpm>{n}-{v}-1.sim.src.rpm</rpm:sourcerpm>\n    <rpm:header-range start=\"4504\" end=\"9321\"/>\n    \
<rpm:provides>\n      <rpm:entry name=\"{n}\" flags=\"EQ\" epoch=\"0\" ver=\"{v}\" rel=\"1.sim\"/>\n    \
</rpm:provides>\n    <file>/usr/bin/{n}</file>\n  </format>\n</package>\n",
            id = p.pkgid
        );
    }
    x.push_str("</metadata>\n");
    x
}

fn filelists_xml(packages: &[Package]) -> String {
    let ns = "http://linux.duke.edu/metadata/filelists";
    let mut x = format!(
        "{XML_DECL}<filelists xmlns=\"{ns}\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        let _ = write!(
            x,
            "<package pkgid=\"{}\" name=\"{n}\" arch=\"noarch\">\n  <version epoch=\"0\" ver=\"{}\" rel=\"1.sim\"/>\n  \
<file>/usr/bin/{n}</file>\n</package>\n",
            p.pkgid,
            p.version,
            n = p.name
        );
    }
    x.push_str("</filelists>\n");
    x
}

fn other_xml(packages: &[Package], number: u32) -> String {
    let ns = "http://linux.duke.edu/metadata/other";
    let mut x = format!(
        "{XML_DECL}<otherdata xmlns=\"{ns}\" packages=\"{}\">\n",
        packages.len()
    );
    for p in packages {
        let _ = write!(
            x,
            "<package pkgid=\"{}\" name=\"{}\" arch=\"noarch\">\n  <version epoch=\"0\" ver=\"{}\" rel=\"1.sim\"/>\n  \
<changelog author=\"mirrorwatch\" date=\"1700000000\">- Revision {number}</changelog>\n</package>\n",
            p.pkgid, p.name, p.version
        );
    }
    x.push_str("</otherdata>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_lists_every_data_file_with_its_real_checksum_and_size() {
        let rev = Revision::generate("9.8/BaseOS/x86_64/os/", 3, 1_700_000_000.0);
        let parsed = crate::repomd::parse(&rev.repomd).expect("our repomd.xml parses");
        let text = String::from_utf8_lossy(&rev.repomd).to_string();
        assert_eq!(rev.data.len(), 3);
        for file in &rev.data {
            assert!(text.contains(&format!("<size>{}</size>", file.bytes.len())));
            assert!(text.contains(&sha256_hex(&file.bytes)));
            assert!(file
                .href
                .starts_with(&format!("repodata/{}", sha256_hex(&file.bytes))));
        }
        assert_eq!(parsed.newest_timestamp(), Some(1_700_000_000));
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
