//! Helpers for driving the real `dnf` (Debian packages `dnf`, `createrepo-c`, `rpm`) against
//! loopback mirrors: real repositories made by `createrepo_c`, served by `fakemirrors::FakeMirror`,
//! and `dnf makecache` run fully isolated and offline.
//!
//! # Public API
//! - `dnf_available() -> bool`: true when `dnf`, `createrepo_c` and `rpmbuild` run; if one is
//!   missing it panics saying what to install, unless `MIRRORWATCH_SKIP_DNF=1` (then false).
//! - `build_rpm(dir, name, version) -> PathBuf`: an empty noarch package, by `rpmbuild`
//!   (put one in a directory before `createrepo` to make a non-empty repository).
//! - `createrepo(dir, revision) -> RepoFiles`: `createrepo_c --no-database --revision N
//!   --set-timestamp-to-revision DIR` (an empty directory is fine), then `read_repo(dir)`.
//!   `RepoFiles`: `revision`, `files` (relative path, bytes), `repomd()`, `href(type)`.
//! - `serve_repo(mirror, prefix, dir) -> Vec<String>`: puts every file under `dir` at
//!   `prefix/<relative path>` (old files stay, as with `serve_tree`); returns the paths.
//! - `Hashes::of(bytes)`: md5, sha1 (`md5sum`/`sha1sum`), sha256, sha512 (sha2), lower hex.
//! - `mirrorlist_text(bases)`, `metalink_xml(repomd, alternates, urls)` (preference 100,
//!   99, …), `repo_file(source_line)` (a `.repo` section, id `REPO_ID`).
//! - `run_makecache(repo_file_text) -> DnfRun` (async): the command in `dnf_command`;
//!   `DnfRun`: `success`, `output` (stdout + stderr), `librepo_log`, `downloads` (every
//!   URL librepo fetched, in order), `elapsed`, `metadata_from()` (the date dnf prints
//!   for the repomd.xml it used). It panics if the repo file or librepo's log names any
//!   address that is not loopback. `assert_success_with(revision)` prints the run and
//!   asserts that dnf succeeded with the repository of that revision.
//! - `metadata_time_text(epoch)`: that date as dnf prints it (`%c`, C locale, UTC).
//! - `base(m)`, `repomd_url(m)`: a mirror's `REPO_PREFIX/` and its `repodata/repomd.xml`.
//! - `Fleet` (`fleet.rs`): an upstream, two good, a stale, a partial and a down mirror and
//!   a `lists` server, with `CURRENT`/`OLD` repositories; requests counted by server name.
//! - `mirrorlist_text`, `metalink_xml`, `Hashes` live in `lists.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fakemirrors::FakeMirror;

mod fleet;
mod lists;

// Each test binary uses only some of these.
#[allow(unused_imports)]
pub use fleet::{Fleet, CURRENT, OLD};
#[allow(unused_imports)]
pub use lists::{metalink_xml, mirrorlist_text, repomd_timestamp, Hashes};

/// Where a repository lives on every mirror.
pub const REPO_PREFIX: &str = "9.8/BaseOS/x86_64/os";
/// The section name `repo_file` writes.
pub const REPO_ID: &str = "mirrorwatch-test";
/// Longest a single dnf run may take before it is killed.
const DNF_DEADLINE: Duration = Duration::from_secs(90);

/// `http://127.x.y.z:port/9.8/BaseOS/x86_64/os/`.
pub fn base(m: &FakeMirror) -> String {
    m.url(&format!("{REPO_PREFIX}/"))
}

/// `base(m)` + `repodata/repomd.xml`.
pub fn repomd_url(m: &FakeMirror) -> String {
    m.url(&format!("{REPO_PREFIX}/repodata/repomd.xml"))
}

/// Whether the dnf tests can run; see the module docs.
pub fn dnf_available() -> bool {
    let runs = |program: &str| {
        let out = Command::new(program).arg("--version").output();
        out.is_ok_and(|o| o.status.success())
    };
    let needed = [
        ("dnf", "dnf"),
        ("createrepo_c", "createrepo-c"),
        ("rpmbuild", "rpm"),
    ];
    let missing: Vec<&str> = needed.iter().filter(|n| !runs(n.0)).map(|n| n.1).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("MIRRORWATCH_SKIP_DNF").as_deref() == Ok("1") {
        eprintln!("SKIPPED: Debian packages {missing:?} are missing (MIRRORWATCH_SKIP_DNF=1)");
        return false;
    }
    panic!(
        "the real-dnf tests need the Debian packages {missing:?}: apt-get install dnf createrepo-c rpm \
         (CI installs them through .ci/run), or set MIRRORWATCH_SKIP_DNF=1 to skip them knowingly"
    );
}

/// The files of a repository directory, `repodata/repomd.xml` first.
#[derive(Clone, Debug)]
pub struct RepoFiles {
    pub revision: u64,
    pub files: Vec<(String, Vec<u8>)>,
}

impl RepoFiles {
    pub fn repomd(&self) -> &[u8] {
        &self.files[0].1
    }

    /// `repodata/…` of a data type, read from repomd.xml.
    pub fn href(&self, data_type: &str) -> Option<String> {
        let text = String::from_utf8_lossy(self.repomd()).into_owned();
        let start = text.find(&format!("<data type=\"{data_type}\">"))?;
        let rest = &text[start..];
        let at = rest.find("<location href=\"")? + "<location href=\"".len();
        Some(rest[at..].split('"').next()?.to_owned())
    }
}

/// Builds an empty noarch package `<name>-<version>-1.noarch.rpm` into `dir`
/// (`rpmbuild`, Debian package `rpm`) and returns its path.
pub fn build_rpm(dir: &Path, name: &str, version: &str) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("probe.spec");
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: mirrorwatch test package\n\
         License: MIT\nBuildArch: noarch\n%description\nAn empty package.\n%files\n"
    );
    std::fs::write(&spec, text).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new("rpmbuild");
    cmd.args(["-bb", "--quiet"]);
    for (key, value) in [
        ("_topdir", work.path().join("top").display().to_string()),
        ("_rpmdir", dir.display().to_string()),
        (
            "_build_name_fmt",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm".into(),
        ),
        ("_build_id_links", "none".into()),
    ] {
        cmd.arg("--define").arg(format!("{key} {value}"));
    }
    let out = cmd.arg(&spec).output().expect("running rpmbuild");
    let built = dir.join(format!("{name}-{version}-1.noarch.rpm"));
    assert!(
        out.status.success() && built.is_file(),
        "rpmbuild: {}",
        said(&out)
    );
    built
}

/// stdout and stderr of a finished command.
fn said(out: &std::process::Output) -> String {
    let (o, e) = (&out.stdout, &out.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(o),
        String::from_utf8_lossy(e)
    )
}

/// Runs `createrepo_c` on `dir` (created if missing) with a fixed revision and timestamps.
pub fn createrepo(dir: &Path, revision: u64) -> RepoFiles {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("createrepo_c")
        .args(["--no-database", "--revision"])
        .arg(revision.to_string())
        .arg("--set-timestamp-to-revision")
        .arg(dir)
        .output()
        .expect("running createrepo_c");
    assert!(
        out.status.success(),
        "createrepo_c {}: {}",
        dir.display(),
        said(&out)
    );
    let mut repo = read_repo(dir);
    repo.revision = revision;
    repo
}

/// Every file under `dir`, as (relative path, bytes); `repodata/repomd.xml` first.
pub fn read_repo(dir: &Path) -> RepoFiles {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.push((rel.into_owned(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let repomd = "repodata/repomd.xml";
    files.sort_by_key(|(rel, _)| (rel != repomd, rel.clone()));
    let found = files.first().is_some_and(|(rel, _)| rel == repomd);
    assert!(found, "{} has no {repomd}", dir.display());
    RepoFiles { revision: 0, files }
}

/// Serves every file under `dir` from `mirror` at `prefix/<relative path>`.
pub fn serve_repo(mirror: &FakeMirror, prefix: &str, dir: &Path) -> Vec<String> {
    read_repo(dir)
        .files
        .into_iter()
        .map(|(rel, bytes)| {
            let path = fakemirrors::mirror::join(prefix, &rel);
            mirror.put(&path, bytes);
            path
        })
        .collect()
}

/// A `.repo` file with one section, `REPO_ID`, whose source is `source_line`
/// (`mirrorlist=…`, `metalink=…` or `baseurl=…`).
pub fn repo_file(source_line: &str) -> String {
    format!(
        "[{REPO_ID}]\nname=mirrorwatch test\n{source_line}\nenabled=1\ngpgcheck=0\n\
         repo_gpgcheck=0\nskip_if_unavailable=False\n"
    )
}

/// What one `dnf makecache` did.
#[derive(Debug)]
pub struct DnfRun {
    pub success: bool,
    pub output: String,
    pub librepo_log: String,
    pub downloads: Vec<String>,
    pub elapsed: Duration,
}

impl DnfRun {
    /// From dnf's `-v` line `<repo>: using metadata from <date>.`
    pub fn metadata_from(&self) -> Option<&str> {
        let at = self.output.find("using metadata from ")? + "using metadata from ".len();
        let line = self.output[at..].lines().next();
        line.map(|l| l.trim_end_matches('.'))
    }

    /// Prints the run, then asserts that dnf succeeded using the repository of `revision`.
    #[track_caller]
    pub fn assert_success_with(&self, revision: u64) {
        eprintln!("{self}");
        assert!(self.success, "{self}");
        let want = metadata_time_text(revision);
        assert_eq!(self.metadata_from(), Some(&*want), "{self}");
    }
}

impl std::fmt::Display for DnfRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ok, secs, said) = (self.success, self.elapsed.as_secs_f32(), &self.output);
        write!(
            f,
            "dnf makecache (success: {ok}, {secs:.1} s) said:\n{said}"
        )?;
        write!(f, "librepo fetched:\n  {}", self.downloads.join("\n  "))
    }
}

/// `epoch` as dnf prints it with `LC_ALL=C TZ=UTC` (`time.strftime("%c")`).
pub fn metadata_time_text(epoch: u64) -> String {
    let mut date = Command::new("date");
    date.env("LC_ALL", "C")
        .env("TZ", "UTC")
        .arg(format!("--date=@{epoch}"));
    let out = date.arg("+%a %b %e %H:%M:%S %Y").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Panics unless `url` is http(s) to a loopback IP.
pub fn assert_loopback_url(url: &str, context: &str) {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{context}: bad URL {url}: {e}"));
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    assert!(loopback, "{context}: {url} is not on a loopback address");
}

/// A librepo download target is a loopback URL, or no URL at all and refused by curl
/// before any connection (librepo also reads a metalink given as `mirrorlist=` as a plain
/// list, and so tries its `<metalink …>` and `<url …>` lines as URLs).
fn assert_loopback_target(target: &str, librepo_log: &str) {
    let scheme = target.split_once("://").map(|(s, _)| s);
    if scheme.is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())) {
        assert_loopback_url(target, "librepo log");
        return;
    }
    let refused =
        format!("Curl error (3): URL using bad/illegal format or missing URL for {target}");
    assert!(
        librepo_log.contains(&refused),
        "librepo tried {target:?}, which is neither a loopback URL nor refused by curl"
    );
}

/// The dnf command line for an isolated run under `tmp` (which has `root/`, `cache/`,
/// `repos.d/`, `vars/` and `dnf.conf`).
pub fn dnf_command(tmp: &Path) -> Command {
    let p = |rel: &str| tmp.join(rel).to_string_lossy().into_owned();
    let mut cmd = Command::new("dnf");
    cmd.arg(format!("--config={}", p("dnf.conf")))
        .arg(format!("--installroot={}", p("root")))
        .args([
            "--releasever=9",
            "--forcearch=x86_64",
            "--noplugins",
            "-y",
            "-v",
        ])
        .arg(format!("--setopt=reposdir={}", p("repos.d")))
        .arg(format!("--setopt=cachedir={}", p("cache")))
        .arg(format!("--setopt=varsdir={}", p("vars")))
        .args(["--setopt=*.skip_if_unavailable=0", "--setopt=timeout=5"])
        .arg("makecache");
    // Loopback only: no proxy may be used, and messages are stable.
    for var in ["http_proxy", "https_proxy", "ftp_proxy", "all_proxy"] {
        cmd.env_remove(var).env_remove(var.to_uppercase());
    }
    cmd.env("no_proxy", "*").env("NO_PROXY", "*");
    cmd.env("LC_ALL", "C").env("LANG", "C").env("TZ", "UTC");
    cmd
}

/// Runs `dnf makecache` against exactly this repo file; see the module docs.
pub async fn run_makecache(repo_file_text: &str) -> DnfRun {
    for line in repo_file_text.lines().filter(|l| l.contains("://")) {
        let (_, urls) = line.split_once('=').unwrap_or(("", line));
        for url in urls.split([',', ' ']).filter(|u| !u.is_empty()) {
            assert_loopback_url(url.trim(), "repo file");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["root", "cache", "repos.d", "vars"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
    }
    std::fs::write(
        tmp.path().join("dnf.conf"),
        "[main]\ngpgcheck=0\nskip_if_unavailable=False\ninstall_weak_deps=False\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("repos.d/mirrorwatch.repo"), repo_file_text).unwrap();

    let mut cmd = tokio::process::Command::from(dnf_command(tmp.path()));
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let started = Instant::now();
    let out = tokio::time::timeout(DNF_DEADLINE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("dnf makecache ran longer than {DNF_DEADLINE:?}"))
        .expect("running dnf");
    let elapsed = started.elapsed();

    let log_path = tmp.path().join("root/var/log/dnf.librepo.log");
    let librepo_log = std::fs::read_to_string(log_path).unwrap_or_default();
    let downloaded = librepo_log
        .lines()
        .filter_map(|l| l.split_once(" Downloading: "));
    let downloads: Vec<String> = downloaded.map(|(_, u)| u.trim().to_owned()).collect();
    for target in &downloads {
        assert_loopback_target(target, &librepo_log);
    }
    DnfRun {
        success: out.status.success(),
        output: said(&out),
        librepo_log,
        downloads,
        elapsed,
    }
}
