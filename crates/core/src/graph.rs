//! The typed dependency graph.
//!
//! Nodes are event classes (for locks: `free(L)`), edges `X -> Y` carry a 4-bit set of types
//! named by (mode `X` was held in, mode `Y` was acquired in), as in lockdep since 2020:
//! `SR`, `ER`, `SN`, `EN` (S = shared holder, E = exclusive holder, R = recursive-read acquirer,
//! N = any other acquirer).
//!
//! **Strong cycles as plain cycles.** A cycle is a deadlock only if no node is entered through
//! an `?R` edge and left through an `S?` edge. We expand every node `c` into two states:
//! `(c, 0)` "entered through a non-R edge" and `(c, 1)` "entered through an R edge". From
//! state 1 only `E?` edges may be taken. A closed walk in this expanded graph is exactly a
//! closed strong walk, and a strong closed walk always contains a strong *simple* cycle
//! (split it at a repeated class: one half keeps the transition rule), so "is there a strong
//! cycle" becomes "is there a cycle" in the expanded graph.
//!
//! **Cheap insertion.** The expanded graph is kept in a dynamic topological order
//! (Pearce & Kelly, "A dynamic topological sort algorithm for directed acyclic graphs",
//! JEA 2006). An edge that agrees with the order costs O(1); otherwise only the region between
//! its endpoints is searched. The graph must keep reported cycles (validation goes on after a
//! report, and gated or timed cycles are only warnings), so nodes on a cycle are merged into
//! one component (union-find) and the order is kept over components.

use rustc_hash::FxHashMap;

/// Holder shared, acquirer recursive reader.
pub const SR: u8 = 1;
/// Holder exclusive, acquirer recursive reader.
pub const ER: u8 = 2;
/// Holder shared, acquirer not a recursive reader.
pub const SN: u8 = 4;
/// Holder exclusive, acquirer not a recursive reader.
pub const EN: u8 = 8;

/// The type bit for one recording.
pub fn edge_type(holder_shared: bool, acquirer_recursive: bool) -> u8 {
    match (holder_shared, acquirer_recursive) {
        (true, true) => SR,
        (false, true) => ER,
        (true, false) => SN,
        (false, false) => EN,
    }
}

/// An edge between two class nodes.
#[derive(Clone, Debug)]
pub struct Edge {
    /// Source node.
    pub from: u32,
    /// Target node.
    pub to: u32,
    /// Union of the type bits recorded.
    pub types: u8,
    /// Expanded edges `(from state, to state)` already inserted into the order, as
    /// `P01 | P00 | P11 | P10`. The order's searches follow these, not `types`, so that while
    /// `add` inserts pairs one at a time they never see a pair that is not in the order yet.
    /// Pairs out of state 1 of a node that no recursive-read edge enters yet are left out
    /// (see `Graph::active1`).
    pub pairs: u8,
}

/// Expanded pair: from state 0 to state 1.
const P01: u8 = 1;
/// Expanded pair: from state 0 to state 0.
const P00: u8 = 2;
/// Expanded pair: from state 1 to state 1.
const P11: u8 = 4;
/// Expanded pair: from state 1 to state 0.
const P10: u8 = 8;

/// The expanded pairs a type set produces.
fn pairs_of(t: u8) -> u8 {
    let mut p = 0;
    if t & (SR | ER) != 0 {
        p |= P01;
    }
    if t & (SN | EN) != 0 {
        p |= P00;
    }
    if t & ER != 0 {
        p |= P11;
    }
    if t & EN != 0 {
        p |= P10;
    }
    p
}

/// Targets of an expanded edge followed forward from state `s`: (to state 1?, to state 0?).
fn forward_targets(pairs: u8, s: u32) -> (bool, bool) {
    if s == 0 {
        (pairs & P01 != 0, pairs & P00 != 0)
    } else {
        (pairs & P11 != 0, pairs & P10 != 0)
    }
}

/// Sources of an expanded edge followed backward into state `s`: (from state 0?, from state 1?).
fn backward_sources(pairs: u8, s: u32) -> (bool, bool) {
    if s == 1 {
        (pairs & P01 != 0, pairs & P11 != 0)
    } else {
        (pairs & P00 != 0, pairs & P10 != 0)
    }
}

/// Result of adding type bits to an edge.
#[derive(Clone, Copy, Debug)]
pub struct AddResult {
    /// The edge.
    pub edge: u32,
    /// The edge did not exist before.
    pub created: bool,
    /// Type bits that were not there before.
    pub new_bits: u8,
    /// A new expanded edge lies on a cycle (strong cycles through this edge may exist).
    pub cyclic: bool,
}

/// The dependency graph with its maintained order.
#[derive(Debug, Default)]
pub struct Graph {
    out: Vec<Vec<u32>>,
    inc: Vec<Vec<u32>>,
    edges: Vec<Edge>,
    index: FxHashMap<u64, u32>,
    /// Union-find parent per expanded node (`2 * node + state`).
    parent: Vec<u32>,
    /// Order key per component representative.
    ord: Vec<u32>,
    /// Members of merged components, by representative (singletons are implicit).
    members: FxHashMap<u32, Vec<u32>>,
    /// Next order key above every key in use, and the next one below (new keys start in the
    /// middle of the range so both ends have room).
    next_ord: u32,
    low_ord: u32,
    mark: Vec<u32>,
    mark2: Vec<u32>,
    generation: u32,
    /// State 1 of the node ("entered as a recursive reader") has an inserted incoming pair.
    /// Until it does, that state is unreachable, so its outgoing pairs cannot be on a cycle
    /// and are not inserted: in graphs without recursive readers this halves the order
    /// maintenance. They are inserted when the state becomes reachable.
    active1: Vec<bool>,
    /// Scratch list for `insert_pairs` (kept to avoid an allocation per edge).
    work: Vec<u32>,
    /// Scratch lists for `region` (its stack, a component's members, a node's neighbours).
    region_scratch: (Vec<u32>, Vec<u32>, Vec<u32>),
    /// Ids of removed edges, reused first (see `isolate`).
    free_edges: Vec<u32>,
    /// Edges ever created (reused ids included).
    created: u64,
}

fn key(from: u32, to: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

impl Graph {
    /// Adds a node and returns its index.
    pub fn add_node(&mut self) -> u32 {
        let n = self.out.len() as u32;
        self.out.push(Vec::new());
        self.inc.push(Vec::new());
        self.active1.push(false);
        for s in 0..2 {
            self.parent.push(2 * n + s);
            if self.next_ord == 0 {
                self.next_ord = 1 << 31;
                self.low_ord = (1 << 31) - 1;
            }
            self.ord.push(self.next_ord);
            self.next_ord += 1;
            self.mark.push(0);
            self.mark2.push(0);
        }
        n
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.out.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len() - self.free_edges.len()
    }

    /// Edge ids in use so far (removed ones are holes until reused: `Edge::types` is 0).
    pub fn edge_slots(&self) -> usize {
        self.edges.len()
    }

    /// Edges ever created: grows with every new edge, reused ids included.
    pub fn edges_created(&self) -> u64 {
        self.created
    }

    /// Whether [`isolate`](Self::isolate) can take `n` out: neither of its states shares a
    /// component with another node.
    pub fn can_isolate(&mut self, n: u32) -> bool {
        (0..2).all(|s| {
            let x = 2 * n + s;
            self.find(x) == x && self.is_singleton(x)
        })
    }

    /// Removes every edge into or out of `n` and returns their ids, which later edges reuse
    /// (the node's class was forgotten). Removing edges keeps the order topological. `None`,
    /// removing nothing, when a state of `n` shares a component with other nodes (a cycle of
    /// non-strong or gated edges through it): components are never split.
    pub fn isolate(&mut self, n: u32) -> Option<Vec<u32>> {
        if !self.can_isolate(n) {
            return None;
        }
        let mut removed = Vec::new();
        for e in std::mem::take(&mut self.out[n as usize]) {
            let to = self.edges[e as usize].to;
            self.inc[to as usize].retain(|&i| i != e);
            self.index.remove(&key(n, to));
            removed.push(e);
        }
        for e in std::mem::take(&mut self.inc[n as usize]) {
            let from = self.edges[e as usize].from;
            self.out[from as usize].retain(|&i| i != e);
            self.index.remove(&key(from, n));
            if !removed.contains(&e) {
                removed.push(e);
            }
        }
        for &e in &removed {
            let edge = &mut self.edges[e as usize];
            edge.types = 0;
            edge.pairs = 0;
            self.free_edges.push(e);
        }
        // No edge enters state 1 of `n` any more.
        self.active1[n as usize] = false;
        Some(removed)
    }

    /// The edge with this index.
    pub fn edge(&self, e: u32) -> &Edge {
        &self.edges[e as usize]
    }

    /// Looks an edge up.
    pub fn find_edge(&self, from: u32, to: u32) -> Option<u32> {
        self.index.get(&key(from, to)).copied()
    }

    /// Outgoing edges of a node.
    pub fn out_edges(&self, n: u32) -> &[u32] {
        &self.out[n as usize]
    }

    /// Incoming edges of a node.
    pub fn in_edges(&self, n: u32) -> &[u32] {
        &self.inc[n as usize]
    }

    /// Approximate heap bytes held by the graph (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let lists: usize = self
            .out
            .iter()
            .chain(self.inc.iter())
            .map(|v| v.capacity() * 4 + size_of::<Vec<u32>>())
            .sum();
        lists
            + self.edges.capacity() * size_of::<Edge>()
            + self.index.capacity() * (size_of::<u64>() + size_of::<u32>() + 1)
            + (self.parent.capacity() + self.ord.capacity() + self.mark.capacity() * 2) * 4
            + self
                .members
                .values()
                .map(|v| v.capacity() * 4 + 32)
                .sum::<usize>()
    }

    /// Adds type bits to the edge `from -> to`, creating it if needed, and keeps the order.
    pub fn add(&mut self, from: u32, to: u32, bits: u8) -> AddResult {
        // Mutation-testing switch: with this feature every edge counts as exclusive ->
        // non-recursive, i.e. the strong-cycle rule is gone. The oracle property test must
        // then fail (see crates/trace/tests/oracle.rs and .ci/run).
        let bits = if cfg!(feature = "mutant-no-strong-rule") {
            EN
        } else {
            bits
        };
        let (edge, created, old) = match self.index.get(&key(from, to)) {
            Some(&e) => (e, false, self.edges[e as usize].types),
            None => {
                let edge = Edge {
                    from,
                    to,
                    types: 0,
                    pairs: 0,
                };
                self.created += 1;
                let e = match self.free_edges.pop() {
                    Some(e) => {
                        self.edges[e as usize] = edge;
                        e
                    }
                    None => {
                        self.edges.push(edge);
                        self.edges.len() as u32 - 1
                    }
                };
                self.index.insert(key(from, to), e);
                self.out[from as usize].push(e);
                self.inc[to as usize].push(e);
                (e, true, 0)
            }
        };
        let new_bits = bits & !old;
        let mut cyclic = false;
        if new_bits != 0 {
            self.edges[edge as usize].types = old | bits;
            cyclic = self.insert_pairs(edge);
        }
        AddResult {
            edge,
            created,
            new_bits,
            cyclic,
        }
    }

    /// Inserts the pairs of `edge` that its types call for and that are not in the order yet,
    /// activating state 1 of target nodes (and inserting their deferred pairs) as needed.
    /// Returns true when some inserted pair lies on a cycle.
    fn insert_pairs(&mut self, edge: u32) -> bool {
        let mut cyclic = false;
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        work.push(edge);
        while let Some(e) = work.pop() {
            let Edge {
                from, to, types, ..
            } = self.edges[e as usize];
            let want = pairs_of(types) & !self.edges[e as usize].pairs;
            for (pair, fs, ts) in [(P01, 0, 1), (P00, 0, 0), (P11, 1, 1), (P10, 1, 0)] {
                if want & pair == 0 || (fs == 1 && !self.active1[from as usize]) {
                    continue;
                }
                self.edges[e as usize].pairs |= pair;
                cyclic |= self.pk_insert(2 * from + fs, 2 * to + ts);
                if ts == 1 && !self.active1[to as usize] {
                    // State 1 of `to` becomes reachable: its deferred out-pairs go in now.
                    // Any cycle through them enters `to` through this very pair.
                    self.active1[to as usize] = true;
                    work.extend(self.out[to as usize].iter().copied());
                }
            }
        }
        self.work = work;
        cyclic
    }

    /// True when some state of `a` and some state of `b` share a component.
    pub fn same_component(&mut self, a: u32, b: u32) -> bool {
        let ca = [self.find(2 * a), self.find(2 * a + 1)];
        let cb = [self.find(2 * b), self.find(2 * b + 1)];
        ca.iter().any(|x| cb.contains(x))
    }

    /// Component representative of an expanded node, without path compression.
    pub fn find_ro(&self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    /// Component representative of an expanded node.
    pub fn find(&mut self, mut x: u32) -> u32 {
        let mut root = x;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        while self.parent[x as usize] != root {
            let next = self.parent[x as usize];
            self.parent[x as usize] = root;
            x = next;
        }
        root
    }

    /// Expanded successors (forward) or predecessors (backward) of an expanded node.
    fn expanded_neighbors(&self, x: u32, forward: bool, out: &mut Vec<u32>) {
        let (n, s) = (x / 2, x % 2);
        if forward {
            for &e in &self.out[n as usize] {
                let Edge { to, pairs, .. } = self.edges[e as usize];
                let (to1, to0) = forward_targets(pairs, s);
                if to1 {
                    out.push(2 * to + 1);
                }
                if to0 {
                    out.push(2 * to);
                }
            }
        } else {
            for &e in &self.inc[n as usize] {
                let Edge { from, pairs, .. } = self.edges[e as usize];
                let (from0, from1) = backward_sources(pairs, s);
                if from0 {
                    out.push(2 * from);
                }
                if from1 {
                    out.push(2 * from + 1);
                }
            }
        }
    }

    fn component_members(&self, c: u32, out: &mut Vec<u32>) {
        match self.members.get(&c) {
            Some(m) => out.extend_from_slice(m),
            None => out.push(c),
        }
    }

    /// Visits components reachable from `start` (forward or backward) whose order key is
    /// within bounds; returns them. Marks use `mark` (forward) or `mark2` (backward).
    fn region(&mut self, start: u32, forward: bool, bound: u32) -> Vec<u32> {
        let generation = self.generation;
        let mut found = vec![start];
        // Scratch lists kept in the graph: a new edge allocates nothing but its result.
        let (mut stack, mut members, mut next) = std::mem::take(&mut self.region_scratch);
        stack.clear();
        stack.push(start);
        self.set_mark(start, forward, generation);
        while let Some(c) = stack.pop() {
            members.clear();
            self.component_members(c, &mut members);
            for &m in &members {
                next.clear();
                self.expanded_neighbors(m, forward, &mut next);
                for &y in &next {
                    let cy = self.find(y);
                    let o = self.ord[cy as usize];
                    let within = if forward { o <= bound } else { o >= bound };
                    if within && !self.is_marked(cy, forward, generation) {
                        self.set_mark(cy, forward, generation);
                        found.push(cy);
                        stack.push(cy);
                    }
                }
            }
        }
        self.region_scratch = (stack, members, next);
        found
    }

    fn set_mark(&mut self, c: u32, forward: bool, generation: u32) {
        if forward {
            self.mark[c as usize] = generation;
        } else {
            self.mark2[c as usize] = generation;
        }
    }

    fn is_marked(&self, c: u32, forward: bool, generation: u32) -> bool {
        if forward {
            self.mark[c as usize] == generation
        } else {
            self.mark2[c as usize] == generation
        }
    }

    fn is_singleton(&self, c: u32) -> bool {
        !self.members.contains_key(&c)
    }

    /// Whether the expanded node `x` has an inserted outgoing (`forward`) or incoming edge.
    fn has_expanded_edge(&self, x: u32, forward: bool) -> bool {
        let (n, s) = (x / 2, x % 2);
        if forward {
            self.out[n as usize].iter().any(|&e| {
                let (a, b) = forward_targets(self.edges[e as usize].pairs, s);
                a || b
            })
        } else {
            self.inc[n as usize].iter().any(|&e| {
                let (a, b) = backward_sources(self.edges[e as usize].pairs, s);
                a || b
            })
        }
    }

    /// Inserts the expanded edge `u -> v`; returns true when it lies on a cycle.
    fn pk_insert(&mut self, u: u32, v: u32) -> bool {
        let cu = self.find(u);
        let cv = self.find(v);
        if cu == cv {
            return true;
        }
        let (lb, ub) = (self.ord[cv as usize], self.ord[cu as usize]);
        if ub < lb {
            return false;
        }
        // Shortcuts: a source with no predecessors can move below everything, a target with
        // no successors above everything (fresh nodes, thread-exit nodes nobody joins yet).
        if self.is_singleton(cu) && !self.has_expanded_edge(cu, false) && self.low_ord > 0 {
            self.ord[cu as usize] = self.low_ord;
            self.low_ord -= 1;
            return false;
        }
        if self.is_singleton(cv) && !self.has_expanded_edge(cv, true) && self.next_ord < u32::MAX {
            self.ord[cv as usize] = self.next_ord;
            self.next_ord += 1;
            return false;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.mark2.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        let generation = self.generation;
        let fwd = self.region(cv, true, ub);
        let cyclic = self.is_marked(cu, true, generation);
        let bwd = self.region(cu, false, lb);
        let mut pool: Vec<u32> = fwd
            .iter()
            .chain(bwd.iter())
            .filter(|&&c| {
                !(cyclic
                    && self.is_marked(c, true, generation)
                    && self.is_marked(c, false, generation))
            })
            .map(|&c| self.ord[c as usize])
            .collect();
        let by_ord = |g: &Graph, v: &mut Vec<u32>| v.sort_unstable_by_key(|&c| g.ord[c as usize]);
        if cyclic {
            // Components both reachable from v and reaching u lie on a cycle: merge them.
            let mut on_cycle: Vec<u32> = fwd
                .iter()
                .copied()
                .filter(|&c| self.is_marked(c, false, generation))
                .collect();
            by_ord(self, &mut on_cycle);
            let mut b: Vec<u32> = bwd
                .iter()
                .copied()
                .filter(|&c| !self.is_marked(c, true, generation))
                .collect();
            let mut f: Vec<u32> = fwd
                .iter()
                .copied()
                .filter(|&c| !self.is_marked(c, false, generation))
                .collect();
            by_ord(self, &mut b);
            by_ord(self, &mut f);
            // Positions: B below, the merged component where its last member was, F above.
            let mut slots: Vec<u32> = std::mem::take(&mut pool);
            slots.extend(on_cycle.iter().map(|&c| self.ord[c as usize]));
            slots.sort_unstable();
            let rep = on_cycle[0];
            let mut merged = Vec::new();
            for &c in &on_cycle {
                self.component_members(c, &mut merged);
                self.members.remove(&c);
                self.parent[c as usize] = rep;
            }
            self.members.insert(rep, merged);
            let mut i = 0;
            for &c in &b {
                self.ord[c as usize] = slots[i];
                i += 1;
            }
            i += on_cycle.len() - 1;
            self.ord[rep as usize] = slots[i];
            i += 1;
            for &c in &f {
                self.ord[c as usize] = slots[i];
                i += 1;
            }
        } else {
            let mut b = bwd;
            let mut f = fwd;
            by_ord(self, &mut b);
            by_ord(self, &mut f);
            pool.sort_unstable();
            for (slot, &c) in pool.iter().zip(b.iter().chain(f.iter())) {
                self.ord[c as usize] = *slot;
            }
        }
        cyclic
    }

    /// True when every listed edge is live, indexed and listed at both ends, and every live
    /// edge is listed (test aid, with [`order_is_consistent`](Self::order_is_consistent)).
    pub fn lists_are_consistent(&self) -> bool {
        let listed = |e: u32| {
            let Edge {
                from, to, types, ..
            } = self.edges[e as usize];
            types != 0
                && self.index.get(&key(from, to)) == Some(&e)
                && self.out[from as usize].contains(&e)
                && self.inc[to as usize].contains(&e)
        };
        self.out
            .iter()
            .chain(self.inc.iter())
            .flatten()
            .all(|&e| listed(e))
            && (0..self.edges.len() as u32)
                .filter(|e| !self.free_edges.contains(e))
                .all(listed)
            && self.index.len() == self.edge_count()
    }

    /// True when the order invariant holds for every expanded edge between components
    /// (debug and test aid).
    pub fn order_is_consistent(&mut self) -> bool {
        let mut next = Vec::new();
        for x in 0..(2 * self.out.len() as u32) {
            next.clear();
            self.expanded_neighbors(x, true, &mut next);
            let cx = self.find(x);
            for &y in &next {
                let cy = self.find(y);
                if cx != cy && self.ord[cx as usize] >= self.ord[cy as usize] {
                    return false;
                }
            }
        }
        true
    }

    /// Enumerates simple strong cycles through edge `e0` (`P -> N`) as edge lists starting
    /// with `e0`, visiting only nodes for which `allowed` holds, shortest first (iterative
    /// deepening: a cap never hides a short cycle behind long ones). Stops after `max_cycles`
    /// cycles or `max_steps` edge expansions in all.
    pub fn cycles_through(
        &self,
        e0: u32,
        allowed: &dyn Fn(u32) -> bool,
        max_cycles: usize,
        max_steps: usize,
    ) -> Vec<Vec<u32>> {
        let mut cycles: Vec<Vec<u32>> = Vec::new();
        let mut on_path = vec![false; self.out.len()];
        let mut steps = 0usize;
        for len in 2..=self.out.len().max(2) {
            let deeper = self.cycles_of_length(
                e0,
                len,
                allowed,
                &mut on_path,
                &mut cycles,
                max_cycles,
                &mut steps,
                max_steps,
            );
            if !deeper || cycles.len() >= max_cycles || steps >= max_steps {
                break;
            }
        }
        cycles
    }

    /// One level of [`Graph::cycles_through`]: cycles of exactly `len` edges. Returns whether
    /// some path was cut by the length bound (so longer cycles may exist).
    #[allow(clippy::too_many_arguments)]
    fn cycles_of_length(
        &self,
        e0: u32,
        len: usize,
        allowed: &dyn Fn(u32) -> bool,
        on_path: &mut [bool],
        cycles: &mut Vec<Vec<u32>>,
        max_cycles: usize,
        steps: &mut usize,
        max_steps: usize,
    ) -> bool {
        let Edge {
            from: p,
            to: n,
            types: t0,
            ..
        } = self.edges[e0 as usize];
        let mut cut = false;
        for rn in [0u32, 1] {
            let enter_ok = if rn == 1 {
                t0 & (SR | ER)
            } else {
                t0 & (SN | EN)
            };
            if enter_ok == 0 {
                continue;
            }
            // Leaving P through e0 needs an exclusive hold of P when P was entered as R.
            let p_state1_ok = if rn == 1 { t0 & ER != 0 } else { t0 & EN != 0 };
            // Iterative DFS: (node, state, index into out edges); `path` holds the edges.
            let mut path: Vec<u32> = vec![e0];
            let mut stack: Vec<(u32, u32, usize)> = vec![(n, rn, 0)];
            on_path[n as usize] = true;
            on_path[p as usize] = true;
            while let Some(top) = stack.last_mut() {
                let (node, state, idx) = *top;
                let outs = &self.out[node as usize];
                if idx >= outs.len() || *steps >= max_steps || cycles.len() >= max_cycles {
                    stack.pop();
                    if node != n {
                        on_path[node as usize] = false;
                    }
                    path.pop();
                    continue;
                }
                top.2 += 1;
                *steps += 1;
                let e = outs[idx];
                let Edge { to, types, .. } = self.edges[e as usize];
                let t = if state == 1 { types & (ER | EN) } else { types };
                if t == 0 {
                    continue;
                }
                if to == p {
                    let arrive0 = t & (SN | EN) != 0;
                    let arrive1 = t & (SR | ER) != 0 && p_state1_ok;
                    if path.len() + 1 == len && (arrive0 || arrive1) {
                        let mut c = path.clone();
                        c.push(e);
                        if !cycles.contains(&c) {
                            cycles.push(c);
                        }
                    }
                    continue;
                }
                if on_path[to as usize] || !allowed(to) {
                    continue;
                }
                if path.len() + 1 >= len {
                    cut = true;
                    continue;
                }
                // Prefer the less restrictive arrival state: from state 0 every edge leaves.
                let next_state = if t & (SN | EN) != 0 { 0 } else { 1 };
                on_path[to as usize] = true;
                path.push(e);
                stack.push((to, next_state, 0));
            }
            on_path[n as usize] = false;
            on_path[p as usize] = false;
        }
        cut
    }

    /// Breadth-first search over expanded states from `starts`, forward or backward, for the
    /// first state accepted by `target`. It follows every pair the types call for (deferred
    /// ones included), so a start in an unreachable state 1 still sees its edges. Returns the state and the edges of the walk from a
    /// start to it (in forward order).
    pub fn search(
        &self,
        starts: &[u32],
        forward: bool,
        target: &mut dyn FnMut(u32) -> bool,
    ) -> Option<(u32, Vec<u32>)> {
        let total = 2 * self.out.len();
        let mut parent: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
        let mut seen = vec![false; total];
        let mut queue = std::collections::VecDeque::new();
        for &s in starts {
            if !seen[s as usize] {
                seen[s as usize] = true;
                queue.push_back(s);
            }
        }
        while let Some(x) = queue.pop_front() {
            if target(x) {
                let mut walk = Vec::new();
                let mut cur = x;
                while let Some(&(prev, e)) = parent.get(&cur) {
                    walk.push(e);
                    cur = prev;
                }
                if forward {
                    walk.reverse();
                }
                return Some((x, walk));
            }
            let (n, s) = (x / 2, x % 2);
            let list = if forward {
                &self.out[n as usize]
            } else {
                &self.inc[n as usize]
            };
            for &e in list {
                let Edge {
                    from, to, types, ..
                } = self.edges[e as usize];
                let mut next = [u32::MAX; 2];
                if forward {
                    let (to1, to0) = forward_targets(pairs_of(types), s);
                    if to1 {
                        next[0] = 2 * to + 1;
                    }
                    if to0 {
                        next[1] = 2 * to;
                    }
                } else {
                    let (from0, from1) = backward_sources(pairs_of(types), s);
                    if from0 {
                        next[0] = 2 * from;
                    }
                    if from1 {
                        next[1] = 2 * from + 1;
                    }
                }
                for y in next {
                    if y != u32::MAX && !seen[y as usize] {
                        seen[y as usize] = true;
                        parent.insert(y, (x, e));
                        queue.push_back(y);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: u32) -> Graph {
        let mut g = Graph::default();
        for _ in 0..n {
            g.add_node();
        }
        g
    }

    #[test]
    fn abba_is_a_cycle() {
        let mut g = graph(2);
        assert!(!g.add(0, 1, EN).cyclic);
        let r = g.add(1, 0, EN);
        assert!(r.cyclic);
        let cycles = g.cycles_through(r.edge, &|_| true, 10, 1000);
        assert_eq!(cycles.len(), 1);
        assert!(g.order_is_consistent());
    }

    #[test]
    fn recursive_readers_do_not_make_a_cycle() {
        let mut g = graph(2);
        g.add(0, 1, SR);
        let r = g.add(1, 0, SR);
        assert!(!r.cyclic);
        assert!(g.cycles_through(r.edge, &|_| true, 10, 1000).is_empty());
        assert!(g.order_is_consistent());
    }

    #[test]
    fn reader_then_writer_inversion_is_a_cycle() {
        // T1: read_recursive(X); lock(Y)  -> X -(SN)-> Y
        // T2: lock(Y); write(X)           -> Y -(EN)-> X
        let mut g = graph(2);
        g.add(0, 1, SN);
        assert!(g.add(1, 0, EN).cyclic);
    }

    #[test]
    fn entered_as_recursive_reader_and_left_shared_is_not_strong() {
        // A -(ER)-> B -(SN)-> A: B entered as R and left as S: not strong.
        let mut g = graph(2);
        g.add(0, 1, ER);
        let r = g.add(1, 0, SN);
        assert!(!r.cyclic);
        // Adding an exclusive departure from B makes it strong.
        let r = g.add(1, 0, EN);
        assert!(r.cyclic);
        assert_eq!(g.cycles_through(r.edge, &|_| true, 10, 1000).len(), 1);
    }

    #[test]
    fn order_survives_many_insertions() {
        let mut g = graph(50);
        let mut x: u64 = 12345;
        for _ in 0..600 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = ((x >> 33) % 50) as u32;
            let b = ((x >> 13) % 50) as u32;
            if a != b {
                let bits = 1 << ((x >> 5) % 4);
                g.add(a, b, bits);
            }
        }
        assert!(g.order_is_consistent());
    }
}
