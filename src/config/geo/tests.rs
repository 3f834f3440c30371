use super::*;

#[test]
fn well_known_countries() {
    assert_eq!(continent_of("DE"), Some(Continent::EU));
    assert_eq!(continent_of("US"), Some(Continent::NA));
    assert_eq!(continent_of("BR"), Some(Continent::SA));
    assert_eq!(continent_of("AU"), Some(Continent::OC));
    assert_eq!(continent_of("JP"), Some(Continent::AS));
    assert_eq!(continent_of("ZA"), Some(Continent::AF));
    assert_eq!(continent_of("AQ"), Some(Continent::AN));
}

#[test]
fn transcontinental_follow_geoip_convention() {
    assert_eq!(continent_of("RU"), Some(Continent::EU));
    assert_eq!(continent_of("CY"), Some(Continent::EU));
    assert_eq!(continent_of("TR"), Some(Continent::AS));
    assert_eq!(continent_of("KZ"), Some(Continent::AS));
    assert_eq!(continent_of("GE"), Some(Continent::AS));
    assert_eq!(continent_of("EG"), Some(Continent::AF));
    assert_eq!(continent_of("PA"), Some(Continent::NA));
    assert_eq!(continent_of("TL"), Some(Continent::OC));
    // Saudi Arabia: the country code "SA" is not the continent SA.
    assert_eq!(continent_of("SA"), Some(Continent::AS));
}

#[test]
fn first_and_last_entries_are_found() {
    assert_eq!(continent_of("AD"), Some(Continent::EU));
    assert_eq!(continent_of("ZW"), Some(Continent::AF));
}

#[test]
fn unassigned_or_malformed_codes() {
    assert_eq!(continent_of("XX"), None);
    assert_eq!(continent_of("UK"), None);
    assert_eq!(continent_of("XK"), None);
    assert_eq!(continent_of("EU"), None);
    assert_eq!(continent_of(""), None);
    assert_eq!(continent_of("D"), None);
    assert_eq!(continent_of("DEU"), None);
    assert_eq!(continent_of(" DE"), None);
}

#[test]
fn lower_case_is_not_accepted() {
    assert_eq!(continent_of("de"), None);
    assert_eq!(continent_of("De"), None);
}

#[test]
fn table_is_sorted_unique_and_complete() {
    assert_eq!(COUNTRIES.len(), 249);
    for pair in COUNTRIES.windows(2) {
        assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
    }
    for (code, _) in COUNTRIES {
        assert_eq!(code.len(), 2, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
    }
}

#[test]
fn every_continent_has_countries() {
    for c in Continent::ALL {
        assert!(COUNTRIES.iter().any(|(_, k)| *k == c), "no country on {c}");
    }
    let on = |c| COUNTRIES.iter().filter(|(_, k)| *k == c).count();
    assert_eq!(on(Continent::AN), 5);
}

#[test]
fn continent_codes_round_trip() {
    for c in Continent::ALL {
        assert_eq!(Continent::parse(c.code()), Some(c));
        assert_eq!(Continent::parse(&c.code().to_ascii_lowercase()), Some(c));
        assert_eq!(c.to_string(), c.code());
    }
    assert_eq!(Continent::parse("eU"), Some(Continent::EU));
    assert_eq!(Continent::parse("EUR"), None);
    assert_eq!(Continent::parse("E"), None);
    assert_eq!(Continent::parse(""), None);
    assert_eq!(Continent::parse(" EU"), None);
    assert_eq!(Continent::parse("XX"), None);
}

#[test]
fn all_is_in_order() {
    let mut sorted = Continent::ALL;
    sorted.sort();
    assert_eq!(sorted, Continent::ALL);
    assert_eq!(Continent::NA.name(), "North America");
}

#[test]
fn serializes_as_code() {
    assert_eq!(serde_json::to_string(&Continent::OC).unwrap(), "\"OC\"");
}
