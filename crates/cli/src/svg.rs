//! A small layered layout of the dependency graph, drawn as SVG (no Graphviz needed).
//!
//! Layers go left to right: back edges (found by a depth-first search in name order) are
//! turned around for layering only, every node goes one layer right of its furthest
//! predecessor, and a few barycentre sweeps order each layer to cut crossings. Nodes never
//! overlap by construction: a layer's column is as wide as its widest node plus a gap, and
//! rows are a node's height plus a gap apart. Edges are cubic curves; those of reported
//! cycles are red (an error) or orange (a warning) and thick. Every node and edge is a `<g>`
//! carrying its names (`data-name`, `data-from`, `data-to`), which the tests read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lockdep_core::Severity;

/// A node: its drawn name and whether it is a lock (a box) or an event node (rounded).
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub lock: bool,
}

/// An edge between two node names, its label, and whether a reported cycle goes through it.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub hot: Option<Severity>,
}

const CHAR_W: f64 = 7.2;
const NODE_H: f64 = 28.0;
const H_GAP: f64 = 90.0;
const V_GAP: f64 = 36.0;
const MARGIN: f64 = 20.0;

/// Escapes text for XML content and attribute values.
pub fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn width(name: &str) -> f64 {
    name.chars().count() as f64 * CHAR_W + 20.0
}

/// Lays out and draws the graph; `title` (if any) goes above it.
pub fn render(nodes: &[Node], edges: &[Edge], title: Option<&str>) -> String {
    let n = nodes.len();
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, nd)| (nd.name.as_str(), i))
        .collect();
    let pairs: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|e| Some((*index.get(e.from.as_str())?, *index.get(e.to.as_str())?)))
        .collect();
    // Each weakly connected component is laid out on its own, the components stacked top
    // to bottom (traces merged from several programs do not tangle).
    let comps = components(n, &pairs);
    let title_h = title.map_or(0.0, |t| t.lines().count() as f64 * 15.0 + 15.0);
    let mut pos = vec![(0f64, 0f64, 0f64); n]; // x, y, width
    let mut layer = vec![0usize; n];
    let mut top = MARGIN + title_h;
    let mut total_w = 0f64;
    for comp in &comps {
        let local: BTreeMap<usize, usize> = comp.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let cpairs: Vec<(usize, usize)> = pairs
            .iter()
            .filter_map(|(a, b)| Some((*local.get(a)?, *local.get(b)?)))
            .collect();
        let clayer = layers(comp.len(), &cpairs);
        let rows = order(comp.len(), &cpairs, &clayer);
        let layers_n = clayer.iter().copied().max().map_or(0, |m| m + 1);
        let mut col_w = vec![0f64; layers_n];
        for (k, &i) in comp.iter().enumerate() {
            col_w[clayer[k]] = col_w[clayer[k]].max(width(&nodes[i].name));
        }
        let mut col_x = vec![MARGIN; layers_n];
        for l in 1..layers_n {
            col_x[l] = col_x[l - 1] + col_w[l - 1] + H_GAP;
        }
        let tallest = rows.iter().map(Vec::len).max().unwrap_or(0) as f64;
        for (l, row) in rows.iter().enumerate() {
            // Centre each layer vertically within the component.
            let y0 = top + (tallest - row.len() as f64) * (NODE_H + V_GAP) / 2.0;
            for (k, &li) in row.iter().enumerate() {
                let i = comp[li];
                pos[i] = (
                    col_x[l],
                    y0 + k as f64 * (NODE_H + V_GAP),
                    width(&nodes[i].name),
                );
                layer[i] = l;
            }
        }
        total_w = total_w.max(col_x.last().map_or(MARGIN, |x| x + col_w[layers_n - 1]) + MARGIN);
        // Room below for the loops of back edges, then a gap before the next component.
        top += tallest * (NODE_H + V_GAP) + V_GAP;
    }
    let height = top + MARGIN;
    let total_w = total_w.max(
        title.map_or(0.0, |t| {
            t.lines().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_W
        }) + 2.0 * MARGIN,
    );

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0}" height="{height:.0}" viewBox="0 0 {total_w:.0} {height:.0}" font-family="monospace" font-size="12">"##
    );
    out.push_str(concat!(
        "<defs>",
        r##"<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>"##,
        r##"<marker id="arrow-error" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d62728"/></marker>"##,
        r##"<marker id="arrow-warning" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#ff7f0e"/></marker>"##,
        "</defs>\n"
    ));
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    if let Some(t) = title {
        for (k, line) in t.lines().enumerate() {
            let _ = writeln!(
                out,
                r##"<text x="{MARGIN}" y="{}" font-weight="bold">{}</text>"##,
                MARGIN + 12.0 + k as f64 * 15.0,
                xml(line)
            );
        }
    }
    for e in edges {
        let (Some(&a), Some(&b)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) else {
            continue;
        };
        let (ax, ay, aw) = pos[a];
        let (bx, by, _) = pos[b];
        let (class, stroke, marker, w) = match e.hot {
            Some(Severity::Error) => ("edge hot error", "#d62728", "arrow-error", 2.5),
            Some(Severity::Warning) => ("edge hot warning", "#ff7f0e", "arrow-warning", 2.5),
            None => ("edge", "#555", "arrow", 1.2),
        };
        let (x1, y1) = (ax + aw, ay + NODE_H / 2.0);
        let (x2, y2) = (bx, by + NODE_H / 2.0);
        // Forward: an S curve. Backward or same layer: a loop under both nodes.
        let (d, lx, ly) = if layer[b] > layer[a] {
            let dx = (x2 - x1) / 2.0;
            (
                format!(
                    "M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}",
                    x1 + dx,
                    x2 - dx
                ),
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 4.0,
            )
        } else {
            let (sx, sy) = (ax + aw / 2.0, ay + NODE_H);
            let (ex, ey) = (bx + pos[b].2 / 2.0, by + NODE_H);
            let low = sy.max(ey) + V_GAP * 0.9;
            (
                format!("M{sx:.1},{sy:.1} C{sx:.1},{low:.1} {ex:.1},{low:.1} {ex:.1},{ey:.1}"),
                (sx + ex) / 2.0,
                // Below the curve (its lowest point is 3/4 of the way to `low`).
                low + 6.0,
            )
        };
        let _ = writeln!(
            out,
            r##"<g class="{class}" data-from="{}" data-to="{}"><path d="{d}" fill="none" stroke="{stroke}" stroke-width="{w}" marker-end="url(#{marker})"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" fill="{stroke}" font-size="10">{}</text></g>"##,
            xml(&e.from),
            xml(&e.to),
            xml(&e.label)
        );
    }
    for (i, nd) in nodes.iter().enumerate() {
        let (x, y, w) = pos[i];
        let rx = if nd.lock { 2 } else { 14 };
        let fill = if nd.lock { "#eef3fb" } else { "#fdf6e3" };
        let _ = writeln!(
            out,
            r##"<g class="node" data-name="{name}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{NODE_H}" rx="{rx}" fill="{fill}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{name}</text></g>"##,
            x + w / 2.0,
            y + NODE_H / 2.0 + 4.0,
            name = xml(&nd.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The weakly connected components (each a list of node indices), in order of their
/// smallest index; a node without edges is a component of its own.
fn components(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut comps: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        comps.entry(r).or_default().push(i);
    }
    comps.into_values().collect()
}

/// Layer of each node: longest path from a source, with back edges (of a depth-first search
/// in index order) turned around so that the rest is acyclic.
fn layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut out_adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a != b {
            out_adj[a].push(b);
        }
    }
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    let mut back = std::collections::HashSet::new();
    for s in 0..n {
        if state[s] != 0 {
            continue;
        }
        let mut stack = vec![(s, 0usize)];
        state[s] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if let Some(&w) = out_adj[v].get(*k) {
                *k += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => {
                        back.insert((v, w));
                    }
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .filter(|&&(a, b)| a != b)
        .map(|&(a, b)| {
            if back.contains(&(a, b)) {
                (b, a)
            } else {
                (a, b)
            }
        })
        .collect();
    // Longest path by relaxation (the DAG is small; n rounds suffice).
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for &(a, b) in &dag {
            if layer[b] < layer[a] + 1 {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// The nodes of each layer, top to bottom: index order, then barycentre sweeps.
fn order(n: usize, edges: &[(usize, usize)], layer: &[usize]) -> Vec<Vec<usize>> {
    let layers_n = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers_n];
    for i in 0..n {
        rows[layer[i]].push(i);
    }
    let mut rank = vec![0f64; n];
    let set_rank = |rows: &Vec<Vec<usize>>, rank: &mut Vec<f64>| {
        for row in rows {
            for (k, &i) in row.iter().enumerate() {
                rank[i] = k as f64;
            }
        }
    };
    set_rank(&rows, &mut rank);
    for sweep in 0..4 {
        for l in 0..layers_n {
            let l = if sweep % 2 == 0 { l } else { layers_n - 1 - l };
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&i| {
                    let nb: Vec<f64> = edges
                        .iter()
                        .filter_map(|&(a, b)| {
                            if a == i && layer[b] != l {
                                Some(rank[b])
                            } else if b == i && layer[a] != l {
                                Some(rank[a])
                            } else {
                                None
                            }
                        })
                        .collect();
                    let key = if nb.is_empty() {
                        rank[i]
                    } else {
                        nb.iter().sum::<f64>() / nb.len() as f64
                    };
                    (key, i)
                })
                .collect();
            keyed.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            rows[l] = keyed.into_iter().map(|(_, i)| i).collect();
            set_rank(&rows, &mut rank);
        }
    }
    rows
}
