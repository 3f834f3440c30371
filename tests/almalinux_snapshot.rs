//! AlmaLinux's real `config.yml` and 530 `mirrors.d` files load unchanged, with the same expected
//! repomd.xml counts AlmaLinux's own checker derives. The data is GPL-3 and lives outside the
//! repository (`../shared/data/almalinux-mirrors/`, or `$MIRRORWATCH_ALMALINUX_DATA`); without it
//! these tests print why and pass without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use mirrorwatch::config::{self, Loaded, Severity};

fn snapshot() -> Option<PathBuf> {
    let dir = std::env::var_os("MIRRORWATCH_ALMALINUX_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/almalinux-mirrors"),
        PathBuf::from,
    );
    if dir.join("config.yml").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: no AlmaLinux snapshot at {} (set MIRRORWATCH_ALMALINUX_DATA)",
            dir.display()
        );
        None
    }
}

fn load_snapshot(dir: &Path) -> Loaded {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mirrors.yaml");
    std::fs::write(
        &file,
        format!(
            "upstream:\n  urls: [\"https://repo.almalinux.org/almalinux/\"]\n  modules:\n    kitten: [\"https://kitten.repo.almalinux.org/\"]\nalmalinux:\n  config: {:?}\n",
            dir.join("config.yml")
        ),
    )
    .unwrap();
    config::load(&file).unwrap_or_else(|e| panic!("the snapshot must load:\n{e}"))
}

#[test]
fn all_530_mirrors_load() {
    let Some(dir) = snapshot() else { return };
    let loaded = load_snapshot(&dir);
    let files = std::fs::read_dir(dir.join("mirrors.d")).unwrap().count();
    assert_eq!(files, 530);
    assert_eq!(loaded.config.mirrors.len(), 530);
    // allowed_outdate: 12h becomes the staleness bound.
    assert_eq!(loaded.config.freshness.stale_after.as_secs(), 12 * 3600);
    assert!(loaded
        .warnings
        .iter()
        .all(|w| w.severity == Severity::Warning));
}

#[test]
fn each_public_mirror_is_expected_to_carry_136_repomd_files_plus_15_for_kitten() {
    let Some(dir) = snapshot() else { return };
    let config = load_snapshot(&dir).config;
    let layout = &config.layout;
    let full: Vec<&str> = layout
        .versions
        .iter()
        .filter(|v| v.module.is_none())
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(full, ["8.10", "9.8", "10.2"]);
    let public: Vec<_> = config.mirrors.iter().filter(|m| !m.private).collect();
    assert_eq!(public.len(), 504);
    let mut kitten = 0;
    for mirror in public {
        let count = layout.targets_for(mirror).count();
        if mirror.modules.contains_key("kitten") {
            kitten += 1;
            assert_eq!(count, 136 + 15, "{}", mirror.name);
        } else {
            assert_eq!(count, 136, "{}", mirror.name);
        }
    }
    assert!(kitten > 40, "only {kitten} kitten mirrors");
    let kitten_targets: Vec<String> = layout
        .targets()
        .filter(|t| t.version.name == "10-kitten")
        .map(|t| t.repo.name.clone())
        .collect();
    assert_eq!(kitten_targets.len(), 15);
    assert!(kitten_targets
        .iter()
        .all(|r| ["baseos", "appstream", "extras-common"].contains(&r.as_str())));
}

#[test]
fn real_quirks_are_warnings_that_name_file_line_and_field() {
    let Some(dir) = snapshot() else { return };
    let loaded = load_snapshot(&dir);
    let find = |needle: &str| {
        loaded
            .warnings
            .iter()
            .map(ToString::to_string)
            .find(|w| w.contains(needle))
            .unwrap_or_else(|| panic!("no warning about {needle}"))
    };
    let typo = find("address_options");
    assert!(
        typo.contains("almalinux.mirror.sofia.incognet.io.yml:7:1: address_options: unknown key"),
        "{typo}"
    );
    assert!(find("`sponsor_url` is repeated").contains("pkg.adfinis-on-exoscale.ch.yml:12:1"));
    // "UK" is read as GB; the mirror keeps its country and continent.
    let mirror = loaded.config.mirror("mirror.ox.ac.uk").unwrap();
    assert_eq!(mirror.country.as_deref(), Some("GB"));
    assert_eq!(mirror.continent.map(|c| c.code()), Some("EU"));
    // `private: no` (a YAML 1.1 boolean) is understood.
    let private = loaded.config.mirrors.iter().filter(|m| m.private).count();
    assert_eq!(private, 26);
    // Rich fields survive: ASN lists, subnets, kitten addresses, cloud mirrors.
    assert!(loaded.config.mirrors.iter().any(|m| m.asns.len() == 4));
    assert!(loaded
        .config
        .mirrors
        .iter()
        .any(|m| m.cloud_type.as_deref() == Some("aws")));
    assert!(loaded
        .config
        .mirrors
        .iter()
        .any(|m| m.monopoly && m.private));
}
