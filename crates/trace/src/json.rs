//! The JSON form of a report (`lockdep check --format json`). Schema documented in
//! ARCHITECTURE.md, "Report JSON".

use serde_json::{Value, json};

use lockdep_core::{EdgeReport, NodeKind, Report};

/// Version of the report object layout; bumped on incompatible changes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

fn node_kind(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Lock => "lock",
        other => other.as_str(),
    }
}

fn edge(e: &EdgeReport) -> Value {
    json!({
        "from": e.from,
        "to": e.to,
        "from_node": node_kind(e.from_kind),
        "to_node": node_kind(e.to_kind),
        "from_mode": e.from_mode,
        "to_mode": e.to_mode,
        "thread": e.thread,
        "from_site": e.from_site,
        "to_site": e.to_site,
        "stack": e.stack,
        "event": e.seq,
        "since": e.since,
        "why": e.why,
    })
}

/// One report as a JSON object: the trace format's required fields (`kind`, `severity`,
/// `classes`, `signature`, `title`) plus where it was raised, the edges and the held locks.
pub fn report_json(r: &Report, file: Option<&str>, line: Option<usize>) -> Value {
    json!({
        "kind": r.kind.as_str(),
        "severity": r.severity.as_str(),
        "classes": r.classes,
        "signature": r.signature,
        "title": r.title,
        "file": file,
        "line": line,
        "event": r.seq,
        "thread": r.thread,
        "site": r.site,
        "stack": r.stack,
        "edges": r.edges.iter().map(edge).collect::<Vec<_>>(),
        "held": r.held.iter().map(|h| json!({
            "class": h.class, "mode": h.mode, "try": h.try_, "site": h.site,
        })).collect::<Vec<_>>(),
        "notes": r.notes,
    })
}
