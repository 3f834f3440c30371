//! `mirrorwatch alertmanager-config`: an Alertmanager configuration, made from the mirrors'
//! contacts, that sends each mirror's alerts to that mirror's admin as well as to the team
//! running mirrorwatch.
//!
//! A mirror's alerts are those with its `mirror` label (down, an IP family broken, stale,
//! behind schedule, incomplete, certificate expiring). Each mirror with an `email` gets a
//! child route that matches `mirror="NAME"` exactly, sends to its own receiver and continues;
//! a last child route without matchers sends everything, those alerts included, to the
//! team's receiver.
//! A mirror without a contact has no route of its own: its alerts reach the team only.
//!
//! Owners are told by email (Alertmanager's `email_configs`, through the SMTP relay given),
//! or, with a webhook URL template, by a webhook per mirror (`{mirror}` in the URL is
//! replaced by the mirror's name, percent-encoded): a chat hook, a ticket system, or a test.

use serde::Serialize;

use crate::config::Config;

/// What the command line says.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The team's receiver; `mirrorwatch-team` when not given.
    pub team_receiver: Option<String>,
    /// The team's email address, if any.
    pub team_email: Option<String>,
    /// The team's webhook, if any.
    pub team_webhook: Option<String>,
    /// Owners get a webhook at this URL (`{mirror}` replaced) instead of an email.
    pub owner_webhook: Option<String>,
    /// `global.smtp_smarthost` (`host:port`): needed when anyone is told by email.
    pub smtp_smarthost: Option<String>,
    /// `global.smtp_from`.
    pub smtp_from: Option<String>,
}

/// Why no configuration was made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertmanagerError {
    #[error(
        "{0} would be told by email: give --smtp-smarthost HOST:PORT and --smtp-from ADDRESS \
         (or --owner-webhook URL for the owners)"
    )]
    NoSmtp(String),
    #[error("--owner-webhook must contain {{mirror}}, or every owner would get every alert")]
    WebhookWithoutMirror,
}

#[derive(Serialize)]
struct File {
    #[serde(skip_serializing_if = "Option::is_none")]
    global: Option<Global>,
    route: Route,
    receivers: Vec<Receiver>,
}

#[derive(Serialize)]
struct Global {
    smtp_smarthost: String,
    smtp_from: String,
}

#[derive(Serialize)]
struct Route {
    receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    continue_: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

impl Route {
    fn to(receiver: String) -> Route {
        Route {
            receiver,
            group_by: Vec::new(),
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            matchers: Vec::new(),
            continue_: false,
            routes: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct Receiver {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_configs: Vec<Email>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<Webhook>,
}

#[derive(Serialize)]
struct Email {
    to: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct Webhook {
    url: String,
    send_resolved: bool,
}

/// A label matcher for `value`, in Alertmanager's syntax: a double-quoted string.
fn matcher(label: &str, value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    format!("{label}=\"{quoted}\"")
}

/// `template` with `{mirror}` replaced by `name`, percent-encoded as a path segment (as the
/// status pages encode names in their links).
fn owner_url(template: &str, name: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    template.replace("{mirror}", &encoded.replace('+', "%20"))
}

/// The configuration for `config`'s enabled mirrors, as YAML with a header saying what it
/// does; the number of mirrors that have a route of their own.
pub fn generate(config: &Config, o: &Options) -> Result<(String, usize), AlertmanagerError> {
    if o.owner_webhook
        .as_ref()
        .is_some_and(|w| !w.contains("{mirror}"))
    {
        return Err(AlertmanagerError::WebhookWithoutMirror);
    }
    let team = o
        .team_receiver
        .clone()
        .unwrap_or_else(|| "mirrorwatch-team".into());
    let owners: Vec<(&str, &str)> = config
        .enabled_mirrors()
        .filter_map(|m| Some((m.name.as_str(), m.email.as_deref()?)))
        .collect();
    let mut emailed = Vec::new();
    if o.team_email.is_some() {
        emailed.push("the team".to_string());
    }
    if o.owner_webhook.is_none() && !owners.is_empty() {
        emailed.push(format!("{} mirrors' admins", owners.len()));
    }
    let global = match (&o.smtp_smarthost, &o.smtp_from) {
        (Some(host), Some(from)) => Some(Global {
            smtp_smarthost: host.clone(),
            smtp_from: from.clone(),
        }),
        _ if emailed.is_empty() => None,
        _ => return Err(AlertmanagerError::NoSmtp(emailed.join(" and "))),
    };
    let mut receivers = vec![Receiver {
        name: team.clone(),
        email_configs: o
            .team_email
            .iter()
            .map(|to| Email {
                to: to.clone(),
                send_resolved: true,
            })
            .collect(),
        webhook_configs: o
            .team_webhook
            .iter()
            .map(|url| Webhook {
                url: url.clone(),
                send_resolved: true,
            })
            .collect(),
    }];
    let mut routes = Vec::new();
    for (name, email) in &owners {
        let receiver = format!("mirror-{name}");
        let (email_configs, webhook_configs) = match &o.owner_webhook {
            Some(template) => (
                Vec::new(),
                vec![Webhook {
                    url: owner_url(template, name),
                    send_resolved: true,
                }],
            ),
            None => (
                vec![Email {
                    to: (*email).to_string(),
                    send_resolved: true,
                }],
                Vec::new(),
            ),
        };
        receivers.push(Receiver {
            name: receiver.clone(),
            email_configs,
            webhook_configs,
        });
        routes.push(Route {
            matchers: vec![matcher("mirror", name)],
            continue_: true,
            // An admin is told again once a day while it lasts, not every few hours.
            repeat_interval: Some("24h"),
            ..Route::to(receiver)
        });
    }
    routes.push(Route::to(team.clone()));
    let file = File {
        global,
        route: Route {
            group_by: vec!["alertname", "mirror", "vantage"],
            group_wait: Some("30s"),
            group_interval: Some("5m"),
            repeat_interval: Some("4h"),
            routes,
            ..Route::to(team.clone())
        },
        receivers,
    };
    let yaml = serde_yaml::to_string(&file).unwrap_or_default();
    let header = format!(
        "# Alertmanager configuration generated by `mirrorwatch alertmanager-config` from\n\
         # {}: {} of {} enabled mirrors have a contact and a route of their own.\n\
         # A mirror's alerts (those with its `mirror` label) go to its receiver and, through\n\
         # the last route, to {team:?}; every other alert to {team:?} only.\n\
         # Regenerate it when mirrors or contacts change; check it with `amtool check-config`.\n",
        config.file.display(),
        owners.len(),
        config.enabled_mirrors().count(),
    );
    Ok((header + &yaml, owners.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_quote_what_would_end_them() {
        assert_eq!(matcher("mirror", "a.b"), r#"mirror="a.b""#);
        assert_eq!(matcher("mirror", r#"a"b\c"#), r#"mirror="a\"b\\c""#);
    }

    fn config(email: Option<&str>) -> Config {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/config/valid/minimal.yaml");
        let mut config = crate::config::load(&path).unwrap().config;
        for m in &mut config.mirrors {
            m.email = email.map(str::to_string);
        }
        config
    }

    #[test]
    fn email_needs_a_relay_and_a_webhook_needs_the_name() {
        let owners = config(Some("admin@example.org"));
        assert!(matches!(
            generate(&owners, &Options::default()),
            Err(AlertmanagerError::NoSmtp(who)) if who.ends_with("mirrors' admins")
        ));
        let hook = |url: &str| Options {
            owner_webhook: Some(url.into()),
            ..Options::default()
        };
        assert_eq!(
            generate(&owners, &hook("http://h/all")).unwrap_err(),
            AlertmanagerError::WebhookWithoutMirror
        );
        let (yaml, routed) = generate(&owners, &hook("http://h/{mirror}")).unwrap();
        assert_eq!(routed, owners.mirrors.len());
        assert!(!yaml.contains("smtp"), "{yaml}");
        // Owners' routes continue to the team's, the last; the root never continues.
        let file: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let root = &file["route"];
        assert!(root.get("continue").is_none(), "{yaml}");
        let routes = root["routes"].as_sequence().unwrap();
        let (team, owners_routes) = routes.split_last().unwrap();
        assert_eq!(team["receiver"], "mirrorwatch-team");
        assert!(team.get("continue").is_none(), "{yaml}");
        assert!(
            owners_routes.iter().all(|r| r["continue"] == true),
            "{yaml}"
        );
        // Without contacts: the team's route only, and no relay needed.
        let (yaml, routed) = generate(&config(None), &Options::default()).unwrap();
        assert_eq!(routed, 0);
        assert!(yaml.contains("receiver: mirrorwatch-team"), "{yaml}");
    }

    #[test]
    fn owner_urls_encode_the_name() {
        assert_eq!(
            owner_url("http://h/hook/{mirror}", "m1.example.org"),
            "http://h/hook/m1.example.org"
        );
        assert_eq!(
            owner_url("http://h/{mirror}", "a b/c"),
            "http://h/a%20b%2Fc"
        );
    }
}
