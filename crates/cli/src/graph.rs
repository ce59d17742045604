//! `lockdep graph`: the class dependency graph of one or more traces (merged, classes match
//! by name), with every reported cycle highlighted.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use lockdep_core::{EdgeReport, NodeKind, Severity, render_text};
use lockdep_trace::Replayer;

use crate::svg;

/// Output format of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// SVG, laid out here (no Graphviz needed).
    Svg,
    /// One self-contained HTML page: every report with a picture of its cycle, then the
    /// whole graph.
    Html,
}

/// Writes the graph; returns the exit status (0, or 2 on input errors: what was read before
/// the error is still drawn).
pub fn run(out: &mut impl Write, format: GraphFormat, cycles_only: bool, files: &[PathBuf]) -> u8 {
    let mut r = Replayer::new();
    let mut status = 0;
    for path in files {
        let name = path.display().to_string();
        let res = match std::fs::File::open(path) {
            Ok(f) => r.read(&name, f),
            Err(e) => Err(lockdep_trace::TraceError {
                file: name.clone(),
                line: 0,
                message: format!("cannot open: {e}"),
            }),
        };
        if let Err(e) = res {
            eprintln!("{e}");
            status = 2;
        }
    }
    let m = model(&r, cycles_only);
    let titles = report_titles(&r);
    let text = match format {
        GraphFormat::Dot => dot(&m, &titles),
        GraphFormat::Svg => {
            let title = titles.join("\n");
            svg::render(
                &m.nodes,
                &m.edges,
                (!title.is_empty()).then_some(title.as_str()),
            )
        }
        GraphFormat::Html => html(&r, &m, files),
    };
    let _ = out.write_all(text.as_bytes());
    status
}

/// What is drawn: nodes and edges, each edge with its label and whether a reported cycle
/// (or irq path) goes through it.
pub struct Model {
    pub nodes: Vec<svg::Node>,
    pub edges: Vec<svg::Edge>,
}

/// A node's name as drawn (as reports name it).
fn node(label: &str, kind: NodeKind) -> String {
    kind.node_name(label)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Lock to lock: the modes (held -> acquired). Through an event node: why the edge exists
/// (owed, signal-lock, signal-wait, queue).
fn label(e: &EdgeReport) -> String {
    if e.from_kind == NodeKind::Lock && e.to_kind == NodeKind::Lock {
        let mut l = format!("{}->{}", e.from_mode, e.to_mode);
        if e.why != "held" {
            let _ = write!(l, " ({})", e.why);
        }
        l
    } else {
        e.why.to_owned()
    }
}

/// The graph of `edges`, `hot` giving the worst severity of the reports through each.
fn model_of(edges: &[EdgeReport], hot: &[((String, String), Severity)]) -> Model {
    let mut nodes: BTreeSet<(String, bool)> = BTreeSet::new();
    let mut out = Vec::new();
    for e in edges {
        let (from, to) = (node(&e.from, e.from_kind), node(&e.to, e.to_kind));
        nodes.insert((from.clone(), e.from_kind == NodeKind::Lock));
        nodes.insert((to.clone(), e.to_kind == NodeKind::Lock));
        let h = hot
            .iter()
            .find(|(k, _)| k.0 == from && k.1 == to)
            .map(|(_, s)| *s);
        out.push(svg::Edge {
            from,
            to,
            label: label(e),
            hot: h,
        });
    }
    Model {
        nodes: nodes
            .into_iter()
            .map(|(name, lock)| svg::Node { name, lock })
            .collect(),
        edges: out,
    }
}

/// (from, to) of every edge in a reported cycle or path, with the worst severity.
fn hot_edges(reports: &[lockdep_core::Report]) -> Vec<((String, String), Severity)> {
    let mut hot: Vec<((String, String), Severity)> = Vec::new();
    for rep in reports {
        for e in &rep.edges {
            let key = (node(&e.from, e.from_kind), node(&e.to, e.to_kind));
            match hot.iter_mut().find(|(k, _)| *k == key) {
                Some((_, sev)) if rep.severity == Severity::Error => *sev = Severity::Error,
                Some(_) => {}
                None => hot.push((key, rep.severity)),
            }
        }
    }
    hot
}

/// The whole graph (or only the reported cycles' edges).
pub fn model(r: &Replayer, cycles_only: bool) -> Model {
    let hot = hot_edges(r.engine.reports());
    let edges: Vec<EdgeReport> = r
        .engine
        .edges()
        .into_iter()
        .filter(|e| {
            !cycles_only
                || hot
                    .iter()
                    .any(|(k, _)| *k == (node(&e.from, e.from_kind), node(&e.to, e.to_kind)))
        })
        .collect();
    model_of(&edges, &hot)
}

/// The lock chain of a Linux report: the classes, and the dependencies the report shows,
/// all highlighted. Lockdep prints the chain as `-> #0 .. #N`: entry #k's lock was taken while
/// holding #k-1's, and the new dependency closes it (#N held, #0 taken). Without entries,
/// "Chain exists of" gives the same order; a two-lock cycle has both ways.
pub fn splat_model(s: &lockdep_trace::splat::Splat) -> Model {
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut push = |a: &str, b: &str| {
        let e = (a.to_owned(), b.to_owned());
        if !edges.contains(&e) {
            edges.push(e);
        }
    };
    let mut chain: Vec<&lockdep_trace::splat::ChainEntry> = s.chain.iter().collect();
    chain.sort_by_key(|e| e.index);
    let order: Vec<&str> = if chain.len() >= 2 {
        chain.iter().map(|e| e.class.as_str()).collect()
    } else {
        s.chain_exists_of.iter().map(String::as_str).collect()
    };
    if order.len() >= 2 {
        for w in order.windows(2) {
            push(w[0], w[1]);
        }
        push(order[order.len() - 1], order[0]);
    } else if let (Some(h), Some(a)) = (&s.holding, &s.acquiring) {
        if h.class != a.class {
            push(&a.class, &h.class); // the existing dependency of a two-lock cycle
        }
        push(&h.class, &a.class); // the new one
    }
    let sev = Severity::Error;
    Model {
        nodes: s
            .classes
            .iter()
            .map(|c| svg::Node {
                name: c.clone(),
                lock: true,
            })
            .collect(),
        edges: edges
            .into_iter()
            .map(|(from, to)| svg::Edge {
                from,
                to,
                label: String::new(),
                hot: Some(sev),
            })
            .collect(),
    }
}

/// One line per report that has a cycle or path: severity, signature, one-line title.
fn report_titles(r: &Replayer) -> Vec<String> {
    r.engine
        .reports()
        .iter()
        .filter(|rep| !rep.edges.is_empty())
        .map(|rep| {
            format!(
                "{} {}: {}",
                rep.severity.as_str(),
                rep.signature,
                rep.one_line()
            )
        })
        .collect()
}

/// The DOT text: locks as boxes, event nodes as ellipses; edges of reported cycles red
/// (errors) or orange (warnings) and thick, the reports listed in the graph's label.
pub fn dot(m: &Model, titles: &[String]) -> String {
    let mut out =
        String::from("digraph lockdep {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    if !titles.is_empty() {
        // Left-justified lines (`\l` ends each).
        let lines: Vec<String> = titles
            .iter()
            .map(|c| {
                let q = quote(c);
                format!("{}\\l", &q[1..q.len() - 1])
            })
            .collect();
        let _ = writeln!(out, "  labelloc=t; label=\"{}\";", lines.concat());
    }
    for n in &m.nodes {
        let _ = writeln!(
            out,
            "  {} [shape={}];",
            quote(&n.name),
            if n.lock { "box" } else { "ellipse" }
        );
    }
    for e in &m.edges {
        let style = match e.hot {
            Some(Severity::Error) => ", color=red, penwidth=2.5",
            Some(Severity::Warning) => ", color=orange, penwidth=2.5",
            None => "",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            quote(&e.from),
            quote(&e.to),
            quote(&e.label)
        );
    }
    out.push_str("}\n");
    out
}

/// One self-contained page: each report's text with a picture of its own cycle, then the
/// whole graph. No external resources.
pub fn html(r: &Replayer, whole: &Model, files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        concat!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lockdep: {}</title>\n",
            "<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}",
            "pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}}",
            ".error{{color:#d62728}}.warning{{color:#ff7f0e}}",
            "section{{border-top:1px solid #ccc;margin-top:2em}}</style></head><body>\n",
            "<h1>lockdep: {}</h1>\n"
        ),
        svg::xml(&names.join(", ")),
        svg::xml(&names.join(", "))
    );
    let reports = r.engine.reports();
    let errors = reports
        .iter()
        .filter(|x| x.severity == Severity::Error)
        .count();
    let _ = writeln!(
        out,
        "<p>{} events, {} error(s), {} warning(s).</p>\n<ol>",
        r.events(),
        errors,
        reports.len() - errors
    );
    for (i, rep) in reports.iter().enumerate() {
        let _ = writeln!(
            out,
            "<li><a href=\"#r{i}\" class=\"{}\">{}</a> <code>{}</code></li>",
            rep.severity.as_str(),
            svg::xml(&rep.one_line()),
            svg::xml(&rep.signature)
        );
    }
    out.push_str("</ol>\n");
    for (i, rep) in reports.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section id=\"r{i}\"><h2 class=\"{}\">{}</h2>",
            rep.severity.as_str(),
            svg::xml(&rep.one_line())
        );
        if !rep.edges.is_empty() {
            let m = model_of(&rep.edges, &hot_edges(std::slice::from_ref(rep)));
            out.push_str(&svg::render(&m.nodes, &m.edges, None));
        }
        let _ = writeln!(out, "<pre>{}</pre></section>", svg::xml(&render_text(rep)));
    }
    out.push_str("<section><h2>The whole dependency graph</h2>\n");
    out.push_str(&svg::render(&whole.nodes, &whole.edges, None));
    out.push_str("</section></body></html>\n");
    out
}
