//! What the mirror-list side hands dnf: plain mirror lists and Metalink 3.0 documents as
//! MirrorManager writes them, with the four hashes of a repomd.xml.

use std::io::Write;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256, Sha512};

/// The four hashes MirrorManager puts in a metalink, lower-case hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

impl Hashes {
    pub fn of(bytes: &[u8]) -> Hashes {
        Hashes {
            md5: coreutils_digest("md5sum", bytes),
            sha1: coreutils_digest("sha1sum", bytes),
            sha256: hex::encode(Sha256::digest(bytes)),
            sha512: hex::encode(Sha512::digest(bytes)),
        }
    }

    /// `<verification>…</verification>`.
    pub fn verification_xml(&self) -> String {
        format!(
            "<verification><hash type=\"md5\">{}</hash><hash type=\"sha1\">{}</hash>\
             <hash type=\"sha256\">{}</hash><hash type=\"sha512\">{}</hash></verification>",
            self.md5, self.sha1, self.sha256, self.sha512
        )
    }
}

fn coreutils_digest(program: &str, bytes: &[u8]) -> String {
    let mut cmd = Command::new(program);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} failed");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

/// The newest `<timestamp>` of a repomd.xml (what `<mm0:timestamp>` carries).
pub fn repomd_timestamp(repomd: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(repomd);
    text.split("<timestamp>")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.split('.').next()?.trim().parse().ok())
        .max()
        .expect("repomd.xml without <timestamp>")
}

/// A plain mirror list: a comment, then one base URL per line.
pub fn mirrorlist_text(bases: &[String]) -> String {
    let lines: String = bases.iter().map(|base| format!("{base}\n")).collect();
    format!("# mirrorwatch test mirror list\n{lines}")
}

/// A Metalink 3.0 document for `repomd`, as MirrorManager writes it: `alternates` are
/// older repomd.xml files still accepted; `urls` get preference 100, 99, ….
pub fn metalink_xml(repomd: &[u8], alternates: &[&[u8]], urls: &[String]) -> String {
    let entry = |bytes: &[u8]| {
        format!(
            "<mm0:timestamp>{}</mm0:timestamp>\n   <size>{}</size>\n   {}\n",
            repomd_timestamp(bytes),
            bytes.len(),
            Hashes::of(bytes).verification_xml()
        )
    };
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" \
         xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" \
         pubdate=\"Mon, 16 Sep 2024 14:05:02 GMT\" generator=\"mirrorwatch-test\" \
         xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n <files>\n  \
         <file name=\"repomd.xml\">\n   ",
    );
    x.push_str(&entry(repomd));
    if !alternates.is_empty() {
        x.push_str("   <mm0:alternates>\n");
        for alt in alternates {
            x.push_str("    <mm0:alternate>\n   ");
            x.push_str(&entry(alt));
            x.push_str("    </mm0:alternate>\n");
        }
        x.push_str("   </mm0:alternates>\n");
    }
    x.push_str("   <resources maxconnections=\"1\">\n");
    for (i, url) in urls.iter().enumerate() {
        let scheme = url.split("://").next().unwrap_or("http");
        x.push_str(&format!(
            "    <url protocol=\"{scheme}\" type=\"{scheme}\" location=\"XX\" \
             preference=\"{}\">{url}</url>\n",
            100 - i
        ));
    }
    x.push_str("   </resources>\n  </file>\n </files>\n</metalink>\n");
    x
}
