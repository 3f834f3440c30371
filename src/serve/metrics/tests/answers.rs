//! The answer counters: what came first, behind URLs, every label set from the start.

use super::*;

#[test]
fn answers_are_counted_by_endpoint_and_what_came_first() {
    let http = HttpStats::new();
    let fresh = render(&snapshot(config(false, "")), &http);
    for endpoint in ["mirrorlist", "metalink"] {
        for first in ["current", "behind", "upstream"] {
            let line = format!(
                "mirrorwatch_mirrorlist_answers_total{{endpoint=\"{endpoint}\",first=\"{first}\"}} 0"
            );
            assert!(fresh.contains(&line), "{line}\n{fresh}");
        }
        let line = format!("mirrorwatch_mirrorlist_behind_urls_total{{endpoint=\"{endpoint}\"}} 0");
        assert!(fresh.contains(&line), "{line}\n{fresh}");
    }
    http.record_answer("mirrorlist", First::Current, 3);
    http.record_answer("mirrorlist", First::Current, 0);
    http.record_answer("mirrorlist", First::Behind, 10);
    http.record_answer("metalink", First::Upstream, 0);
    // Not an answer endpoint: not counted, and no new label value.
    http.record_answer("api", First::Behind, 5);
    let text = render(&snapshot(config(false, "")), &http);
    for line in [
        "# TYPE mirrorwatch_mirrorlist_answers_total counter",
        "mirrorwatch_mirrorlist_answers_total{endpoint=\"mirrorlist\",first=\"current\"} 2",
        "mirrorwatch_mirrorlist_answers_total{endpoint=\"mirrorlist\",first=\"behind\"} 1",
        "mirrorwatch_mirrorlist_answers_total{endpoint=\"mirrorlist\",first=\"upstream\"} 0",
        "mirrorwatch_mirrorlist_answers_total{endpoint=\"metalink\",first=\"upstream\"} 1",
        "# TYPE mirrorwatch_mirrorlist_behind_urls_total counter",
        "mirrorwatch_mirrorlist_behind_urls_total{endpoint=\"mirrorlist\"} 13",
        "mirrorwatch_mirrorlist_behind_urls_total{endpoint=\"metalink\"} 0",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(!text.contains("endpoint=\"api\",first"), "{text}");
}
