//! Countries and continents.
//!
//! Mirrors are grouped by the continent they sit on, and a client's country (looked up
//! with GeoIP) is mapped to a continent so that a mirror list can fall back from
//! "same country" to "same continent". This module is the one place that knows which
//! continent a country belongs to.
//!
//! * [`Continent`] is one of the seven two-letter continent codes used by GeoIP
//!   databases: `AF` Africa, `AN` Antarctica, `AS` Asia, `EU` Europe, `NA` North
//!   America, `OC` Oceania, `SA` South America.
//! * [`continent_of`] maps an ISO 3166-1 alpha-2 country code to its continent. The
//!   table covers all 249 officially assigned codes and nothing else: user-assigned or
//!   reserved codes (`XX`, `XK`, `EU`, `UK`, ...) give `None`.
//!
//! # Convention
//!
//! Countries that straddle two continents, and far-away territories, are placed the way
//! MaxMind's GeoIP2 / GeoLite2 databases place them, which is the `Continent` column of
//! GeoNames' `countryInfo.txt` (MaxMind takes its place data from GeoNames). That keeps
//! a mirror's configured continent consistent with what a GeoIP lookup says about the
//! clients near it. Notable choices:
//!
//! * Europe: `RU` Russia, `CY` Cyprus, `UA`, `BY`, `MD`, and the northern islands and
//!   crown dependencies (`SJ` Svalbard, `AX`, `FO`, `IS`, `GG`, `JE`, `IM`, `GI`).
//! * Asia: `TR` Turkey, the Caucasus (`GE` Georgia, `AM` Armenia, `AZ` Azerbaijan),
//!   `KZ` Kazakhstan, the Middle East including `IL`, `PS` and `SA` Saudi Arabia (a
//!   country code that is also a continent code), `IO` British Indian Ocean Territory,
//!   `CC` Cocos Islands.
//! * Africa: `EG` Egypt, `EH` Western Sahara, `RE` Réunion, `YT` Mayotte, `SH` Saint
//!   Helena.
//! * North America: all of Central America and the Caribbean (`PA`, `CR`, `CU`, `PR`,
//!   `CW`, `BQ`, `SX`, ...) and `GL` Greenland.
//! * South America: `FK` Falkland Islands, `GF` French Guiana.
//! * Oceania: `TL` Timor-Leste, `CX` Christmas Island, `UM` US Minor Outlying Islands,
//!   `PN` Pitcairn.
//! * Antarctica: `AQ`, `BV` Bouvet Island, `GS` South Georgia, `HM` Heard and McDonald
//!   Islands, `TF` French Southern Territories.
//!
//! The common Wikipedia-based lists differ in three places (they put `CY` and `CX` in
//! Asia and `GS` in South America); this table deliberately follows GeoIP instead.
//!
//! Lookups are exact: the table is upper case, so callers upper-case user input first.

use std::fmt;

use serde::Serialize;

use self::Continent::{AF, AN, AS, EU, NA, OC, SA};

/// A continent, by its two-letter code as used by GeoIP databases.
///
/// Serializes as its code (`"EU"`). The derived order is alphabetical by code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Continent {
    /// Africa.
    AF,
    /// Antarctica.
    AN,
    /// Asia.
    AS,
    /// Europe.
    EU,
    /// North America, including Central America and the Caribbean.
    NA,
    /// Oceania.
    OC,
    /// South America.
    SA,
}

impl Continent {
    /// Every continent, in code order.
    pub const ALL: [Continent; 7] = [AF, AN, AS, EU, NA, OC, SA];

    /// The two-letter upper-case code, e.g. `"EU"`.
    pub fn code(self) -> &'static str {
        match self {
            AF => "AF",
            AN => "AN",
            AS => "AS",
            EU => "EU",
            NA => "NA",
            OC => "OC",
            SA => "SA",
        }
    }

    /// The English name, e.g. `"Europe"`.
    pub fn name(self) -> &'static str {
        match self {
            AF => "Africa",
            AN => "Antarctica",
            AS => "Asia",
            EU => "Europe",
            NA => "North America",
            OC => "Oceania",
            SA => "South America",
        }
    }

    /// Parses a two-letter continent code, ignoring ASCII case (`"eu"` and `"EU"` both
    /// give [`Continent::EU`]). Anything else, including surrounding whitespace, gives
    /// `None`.
    pub fn parse(s: &str) -> Option<Continent> {
        Continent::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Continent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The continent of an ISO 3166-1 alpha-2 country code (upper case, e.g. `"DE"`), or
/// `None` when the code is not assigned (or not upper case).
pub fn continent_of(country: &str) -> Option<Continent> {
    COUNTRIES
        .binary_search_by(|(code, _)| (*code).cmp(country))
        .ok()
        .and_then(|i| COUNTRIES.get(i))
        .map(|(_, continent)| *continent)
}

/// Every officially assigned ISO 3166-1 alpha-2 code with its continent, sorted by code
/// so that [`continent_of`] can binary-search it. Names are for the reader only.
static COUNTRIES: &[(&str, Continent)] = &[
    ("AD", EU), // Andorra
    ("AE", AS), // United Arab Emirates
    ("AF", AS), // Afghanistan
    ("AG", NA), // Antigua and Barbuda
    ("AI", NA), // Anguilla
    ("AL", EU), // Albania
    ("AM", AS), // Armenia
    ("AO", AF), // Angola
    ("AQ", AN), // Antarctica
    ("AR", SA), // Argentina
    ("AS", OC), // American Samoa
    ("AT", EU), // Austria
    ("AU", OC), // Australia
    ("AW", NA), // Aruba
    ("AX", EU), // Åland Islands
    ("AZ", AS), // Azerbaijan
    ("BA", EU), // Bosnia and Herzegovina
    ("BB", NA), // Barbados
    ("BD", AS), // Bangladesh
    ("BE", EU), // Belgium
    ("BF", AF), // Burkina Faso
    ("BG", EU), // Bulgaria
    ("BH", AS), // Bahrain
    ("BI", AF), // Burundi
    ("BJ", AF), // Benin
    ("BL", NA), // Saint Barthélemy
    ("BM", NA), // Bermuda
    ("BN", AS), // Brunei Darussalam
    ("BO", SA), // Bolivia, Plurinational State of
    ("BQ", NA), // Bonaire, Sint Eustatius and Saba
    ("BR", SA), // Brazil
    ("BS", NA), // Bahamas
    ("BT", AS), // Bhutan
    ("BV", AN), // Bouvet Island
    ("BW", AF), // Botswana
    ("BY", EU), // Belarus
    ("BZ", NA), // Belize
    ("CA", NA), // Canada
    ("CC", AS), // Cocos (Keeling) Islands
    ("CD", AF), // Congo, The Democratic Republic of the
    ("CF", AF), // Central African Republic
    ("CG", AF), // Congo
    ("CH", EU), // Switzerland
    ("CI", AF), // Côte d'Ivoire
    ("CK", OC), // Cook Islands
    ("CL", SA), // Chile
    ("CM", AF), // Cameroon
    ("CN", AS), // China
    ("CO", SA), // Colombia
    ("CR", NA), // Costa Rica
    ("CU", NA), // Cuba
    ("CV", AF), // Cabo Verde
    ("CW", NA), // Curaçao
    ("CX", OC), // Christmas Island
    ("CY", EU), // Cyprus
    ("CZ", EU), // Czechia
    ("DE", EU), // Germany
    ("DJ", AF), // Djibouti
    ("DK", EU), // Denmark
    ("DM", NA), // Dominica
    ("DO", NA), // Dominican Republic
    ("DZ", AF), // Algeria
    ("EC", SA), // Ecuador
    ("EE", EU), // Estonia
    ("EG", AF), // Egypt
    ("EH", AF), // Western Sahara
    ("ER", AF), // Eritrea
    ("ES", EU), // Spain
    ("ET", AF), // Ethiopia
    ("FI", EU), // Finland
    ("FJ", OC), // Fiji
    ("FK", SA), // Falkland Islands (Malvinas)
    ("FM", OC), // Micronesia, Federated States of
    ("FO", EU), // Faroe Islands
    ("FR", EU), // France
    ("GA", AF), // Gabon
    ("GB", EU), // United Kingdom
    ("GD", NA), // Grenada
    ("GE", AS), // Georgia
    ("GF", SA), // French Guiana
    ("GG", EU), // Guernsey
    ("GH", AF), // Ghana
    ("GI", EU), // Gibraltar
    ("GL", NA), // Greenland
    ("GM", AF), // Gambia
    ("GN", AF), // Guinea
    ("GP", NA), // Guadeloupe
    ("GQ", AF), // Equatorial Guinea
    ("GR", EU), // Greece
    ("GS", AN), // South Georgia and the South Sandwich Islands
    ("GT", NA), // Guatemala
    ("GU", OC), // Guam
    ("GW", AF), // Guinea-Bissau
    ("GY", SA), // Guyana
    ("HK", AS), // Hong Kong
    ("HM", AN), // Heard Island and McDonald Islands
    ("HN", NA), // Honduras
    ("HR", EU), // Croatia
    ("HT", NA), // Haiti
    ("HU", EU), // Hungary
    ("ID", AS), // Indonesia
    ("IE", EU), // Ireland
    ("IL", AS), // Israel
    ("IM", EU), // Isle of Man
    ("IN", AS), // India
    ("IO", AS), // British Indian Ocean Territory
    ("IQ", AS), // Iraq
    ("IR", AS), // Iran, Islamic Republic of
    ("IS", EU), // Iceland
    ("IT", EU), // Italy
    ("JE", EU), // Jersey
    ("JM", NA), // Jamaica
    ("JO", AS), // Jordan
    ("JP", AS), // Japan
    ("KE", AF), // Kenya
    ("KG", AS), // Kyrgyzstan
    ("KH", AS), // Cambodia
    ("KI", OC), // Kiribati
    ("KM", AF), // Comoros
    ("KN", NA), // Saint Kitts and Nevis
    ("KP", AS), // Korea, Democratic People's Republic of
    ("KR", AS), // Korea, Republic of
    ("KW", AS), // Kuwait
    ("KY", NA), // Cayman Islands
    ("KZ", AS), // Kazakhstan
    ("LA", AS), // Lao People's Democratic Republic
    ("LB", AS), // Lebanon
    ("LC", NA), // Saint Lucia
    ("LI", EU), // Liechtenstein
    ("LK", AS), // Sri Lanka
    ("LR", AF), // Liberia
    ("LS", AF), // Lesotho
    ("LT", EU), // Lithuania
    ("LU", EU), // Luxembourg
    ("LV", EU), // Latvia
    ("LY", AF), // Libya
    ("MA", AF), // Morocco
    ("MC", EU), // Monaco
    ("MD", EU), // Moldova, Republic of
    ("ME", EU), // Montenegro
    ("MF", NA), // Saint Martin (French part)
    ("MG", AF), // Madagascar
    ("MH", OC), // Marshall Islands
    ("MK", EU), // North Macedonia
    ("ML", AF), // Mali
    ("MM", AS), // Myanmar
    ("MN", AS), // Mongolia
    ("MO", AS), // Macao
    ("MP", OC), // Northern Mariana Islands
    ("MQ", NA), // Martinique
    ("MR", AF), // Mauritania
    ("MS", NA), // Montserrat
    ("MT", EU), // Malta
    ("MU", AF), // Mauritius
    ("MV", AS), // Maldives
    ("MW", AF), // Malawi
    ("MX", NA), // Mexico
    ("MY", AS), // Malaysia
    ("MZ", AF), // Mozambique
    ("NA", AF), // Namibia
    ("NC", OC), // New Caledonia
    ("NE", AF), // Niger
    ("NF", OC), // Norfolk Island
    ("NG", AF), // Nigeria
    ("NI", NA), // Nicaragua
    ("NL", EU), // Netherlands
    ("NO", EU), // Norway
    ("NP", AS), // Nepal
    ("NR", OC), // Nauru
    ("NU", OC), // Niue
    ("NZ", OC), // New Zealand
    ("OM", AS), // Oman
    ("PA", NA), // Panama
    ("PE", SA), // Peru
    ("PF", OC), // French Polynesia
    ("PG", OC), // Papua New Guinea
    ("PH", AS), // Philippines
    ("PK", AS), // Pakistan
    ("PL", EU), // Poland
    ("PM", NA), // Saint Pierre and Miquelon
    ("PN", OC), // Pitcairn
    ("PR", NA), // Puerto Rico
    ("PS", AS), // Palestine, State of
    ("PT", EU), // Portugal
    ("PW", OC), // Palau
    ("PY", SA), // Paraguay
    ("QA", AS), // Qatar
    ("RE", AF), // Réunion
    ("RO", EU), // Romania
    ("RS", EU), // Serbia
    ("RU", EU), // Russian Federation
    ("RW", AF), // Rwanda
    ("SA", AS), // Saudi Arabia
    ("SB", OC), // Solomon Islands
    ("SC", AF), // Seychelles
    ("SD", AF), // Sudan
    ("SE", EU), // Sweden
    ("SG", AS), // Singapore
    ("SH", AF), // Saint Helena, Ascension and Tristan da Cunha
    ("SI", EU), // Slovenia
    ("SJ", EU), // Svalbard and Jan Mayen
    ("SK", EU), // Slovakia
    ("SL", AF), // Sierra Leone
    ("SM", EU), // San Marino
    ("SN", AF), // Senegal
    ("SO", AF), // Somalia
    ("SR", SA), // Suriname
    ("SS", AF), // South Sudan
    ("ST", AF), // Sao Tome and Principe
    ("SV", NA), // El Salvador
    ("SX", NA), // Sint Maarten (Dutch part)
    ("SY", AS), // Syrian Arab Republic
    ("SZ", AF), // Eswatini
    ("TC", NA), // Turks and Caicos Islands
    ("TD", AF), // Chad
    ("TF", AN), // French Southern Territories
    ("TG", AF), // Togo
    ("TH", AS), // Thailand
    ("TJ", AS), // Tajikistan
    ("TK", OC), // Tokelau
    ("TL", OC), // Timor-Leste
    ("TM", AS), // Turkmenistan
    ("TN", AF), // Tunisia
    ("TO", OC), // Tonga
    ("TR", AS), // Türkiye
    ("TT", NA), // Trinidad and Tobago
    ("TV", OC), // Tuvalu
    ("TW", AS), // Taiwan, Province of China
    ("TZ", AF), // Tanzania, United Republic of
    ("UA", EU), // Ukraine
    ("UG", AF), // Uganda
    ("UM", OC), // United States Minor Outlying Islands
    ("US", NA), // United States
    ("UY", SA), // Uruguay
    ("UZ", AS), // Uzbekistan
    ("VA", EU), // Holy See (Vatican City State)
    ("VC", NA), // Saint Vincent and the Grenadines
    ("VE", SA), // Venezuela, Bolivarian Republic of
    ("VG", NA), // Virgin Islands, British
    ("VI", NA), // Virgin Islands, U.S.
    ("VN", AS), // Viet Nam
    ("VU", OC), // Vanuatu
    ("WF", OC), // Wallis and Futuna
    ("WS", OC), // Samoa
    ("YE", AS), // Yemen
    ("YT", AF), // Mayotte
    ("ZA", AF), // South Africa
    ("ZM", AF), // Zambia
    ("ZW", AF), // Zimbabwe
];

#[cfg(test)]
mod tests;
