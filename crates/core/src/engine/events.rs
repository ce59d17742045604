//! Waits for events that are not lock acquisitions (semantics.md §3): owed events, the
//! signaller's windows (a) and (b), joins, work queues, deferred lists, obligations.
//!
//! The graph's nodes are event classes; an edge `X -> Y` means "whoever must produce `X`
//! waited for `Y` first". Lock nodes are `free(L)`; the others are typed by [`NodeKind`].

use super::{
    Engine, EngineError, Gate, Owed, OwedSrc, Step, bit_get, bit_set, err, gates_outside,
    is_gate_hold, mix,
};
use crate::graph;
use crate::op::{FlushKind, Mode, ObjId, ObjKind, Produce, SiteId, StackId, ThreadId};
use crate::report::{Kind, NodeKind, Severity};

use super::{EdgeMeta, EdgeRule, NodeData, ThreadData};

/// Snapshots a thread keeps exactly (the most recent), and how many more may pile up before
/// older ones are thinned to checkpoints.
const SNAPS_RECENT: usize = 16;
const SNAPS_SLACK: usize = 48;

/// The clock a thread sends with a synchronizing step right after its op `seq`: its snapshot
/// `snap`, its own component set to `seq + 1` (0 = nothing known).
fn message(snap: &[u64], t: ThreadId, seq: u64) -> Box<[u64]> {
    let mut v = vec![0u64; snap.len().max(t.0 as usize + 1)];
    v[..snap.len()].copy_from_slice(snap);
    v[t.0 as usize] = seq + 1;
    v.into_boxed_slice()
}

/// Whether thread `w`, which parked at op `s`, still counts as waiting (its next op means the
/// wait returned).
fn waiting(threads: &[Option<ThreadData>], w: ThreadId, s: u64) -> bool {
    threads
        .get(w.0 as usize)
        .and_then(Option::as_ref)
        .is_some_and(|wt| wt.last_seq == s)
}

impl Engine {
    /// The graph node of an event class (created on first use).
    pub(super) fn event_node(&mut self, kind: NodeKind, name: u32) -> u32 {
        if let Some(&n) = self.event_nodes.get(&(kind as u8, name)) {
            return n;
        }
        let n = self.graph.add_node();
        self.nodes.push(NodeData {
            kind,
            class: u32::MAX,
            label: self.names.strings[name as usize].clone(),
        });
        self.event_nodes.insert((kind as u8, name), n);
        n
    }

    /// `exit(T)` of the thread's class.
    pub(super) fn exit_node(&mut self, t: ThreadId) -> u32 {
        let cached = self.thread_mut(t).exit;
        if cached != u32::MAX {
            return cached;
        }
        let name = match self.thread_mut(t).tclass {
            Some(c) => c.0,
            None => {
                let n = self.thread(t).name.clone();
                self.names.intern(&n)
            }
        };
        let n = self.event_node(NodeKind::ThreadExit, name);
        self.thread_mut(t).exit = n;
        n
    }

    /// The node of an event object for `kind`, checking that the object is an event source.
    fn obj_node(&mut self, obj: ObjId, kind: NodeKind) -> Result<u32, EngineError> {
        let o = self.obj(obj)?;
        if o.decl.kind.is_lock() {
            return err(format!(
                "the object is a {}, a lock: it has no {} event (use acquire/release)",
                o.decl.kind.as_str(),
                kind.as_str()
            ));
        }
        let name = o.decl.class.0;
        Ok(self.event_node(kind, name))
    }

    /// The `done`/`notified`/`zero`/`ran`/`drained` node an obligation on `obj` stands for.
    fn produced_node(&mut self, obj: ObjId) -> Result<u32, EngineError> {
        let kind = match self.obj(obj)?.decl.kind {
            ObjKind::Condvar => NodeKind::Notified,
            ObjKind::Counter => NodeKind::Zero,
            ObjKind::Channel => NodeKind::Avail,
            ObjKind::Work | ObjKind::Deferred => NodeKind::Ran,
            ObjKind::WorkQueue => NodeKind::Drained,
            _ => NodeKind::Done,
        };
        self.obj_node(obj, kind)
    }

    /// Every event the thread owes besides its held locks, with where the obligation began:
    /// its exit, then `owed`.
    fn owed_nodes(&mut self, t: ThreadId) -> Vec<(u32, Step, SiteId)> {
        let exit = self.exit_node(t);
        let th = self.thread(t);
        let mut v = vec![(exit, th.start, SiteId::NONE)];
        for o in &th.owed {
            if !v.iter().any(|x| x.0 == o.node) {
                v.push((o.node, o.start, o.site));
            }
        }
        v
    }

    /// The thread's current step.
    pub(super) fn step_now(&self, t: ThreadId) -> Step {
        let th = self.thread(t);
        Step {
            thread: t.0,
            seq: self.seq,
            epoch: th.epoch,
        }
    }

    /// The thread's vector clock now (its snapshot with its own component set), as sent by a
    /// synchronizing step. Components hold `seq + 1` (0 = nothing known).
    fn vc_now(&self, t: ThreadId) -> Box<[u64]> {
        let th = self.thread(t);
        let cur = &th.snaps.last().expect("epoch 0 is always kept").2;
        message(cur, t, self.seq)
    }

    /// Merges a received clock into the thread's: a new snapshot when it adds anything. The
    /// thread's own component is left out: it is never read (a step is never ordered against
    /// its own thread, and [`vc_now`](Self::vc_now) sets it), so a thread that observes its
    /// own signal gets no new snapshot, as the runtime's fast path assumes.
    pub(super) fn vc_merge(&mut self, t: ThreadId, msg: &[u64]) {
        let seq = self.seq;
        let th = self.thread_mut(t);
        let me = t.0 as usize;
        let cur = &th.snaps.last().expect("epoch 0 is always kept").2;
        if msg
            .iter()
            .enumerate()
            .all(|(i, &m)| i == me || m <= cur.get(i).copied().unwrap_or(0))
        {
            return;
        }
        let mut v = vec![0u64; cur.len().max(msg.len())];
        v[..cur.len()].copy_from_slice(cur);
        for (i, &m) in msg.iter().enumerate() {
            if i != me {
                v[i] = v[i].max(m);
            }
        }
        th.epoch += 1;
        th.snaps.push((th.epoch, seq, v.into_boxed_slice()));
        // A thread that receives many messages (a pool worker) would keep one snapshot per
        // message forever. Older epochs keep only power-of-two checkpoints: a dropped epoch
        // is read through the checkpoint before it, a clock no later than the real one, so an
        // old step can lose an ordering (a report stays) but never gain one.
        if th.snaps.len() > SNAPS_RECENT + SNAPS_SLACK {
            let keep_from = th.snaps.len() - SNAPS_RECENT;
            let mut i = 0;
            th.snaps.retain(|(e, _, _)| {
                i += 1;
                i > keep_from || e.is_power_of_two() || *e == 0
            });
        }
    }

    /// The thread's clock at `epoch` (or the nearest kept checkpoint before it).
    fn snap_at(th: &ThreadData, epoch: u32) -> &[u64] {
        let i = match th.snaps.binary_search_by_key(&epoch, |s| s.0) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        &th.snaps[i].2
    }

    /// The clock `t` sent with a signal made right after its op `at` (its snapshot then, own
    /// component set); a thinned snapshot is read through the checkpoint before it, which
    /// can lose an ordering but never gain one.
    fn clock_after(&self, t: ThreadId, at: u64) -> Box<[u64]> {
        let th = self.thread(t);
        let i = th.snaps.partition_point(|s| s.1 <= at).max(1) - 1;
        message(&th.snaps[i].2, t, at)
    }

    /// The existing node of an event object for `kind` (`None` before its first use).
    fn known_node(&self, obj: ObjId, kind: NodeKind) -> Option<u32> {
        let o = self.objs.get(obj.0 as usize)?.as_ref()?;
        if o.decl.kind.is_lock() {
            return None;
        }
        self.event_nodes.get(&(kind as u8, o.decl.class.0)).copied()
    }

    /// For a caller that skips repeated signals (the runtime's event fast path): a token of
    /// everything signal rule (a) depends on for `t` — its chain-key base and context (as
    /// [`fast_token`](Self::fast_token)), its signal window (start and the lock classes taken
    /// in it). `None` when a signal needs more than that: locks held, an obligation open (its
    /// window is per object), or a context the fast path leaves alone. A signal of one event
    /// class validated under a token adds no edge when repeated under the same token with no
    /// waiter pending ([`event_open`](Self::event_open)): only the event's last signal
    /// changes, which [`note_signal`](Self::note_signal) hands over.
    pub fn signal_token(&self, t: ThreadId) -> Option<u64> {
        let base = self.fast_token(t)?;
        let th = self.threads.get(t.0 as usize)?.as_ref()?;
        if !th.held.is_empty()
            || !th.incoming.is_empty()
            || th
                .owed
                .iter()
                .any(|o| matches!(o.src, OwedSrc::Obligation(..)))
        {
            return None;
        }
        Some(mix(mix(base, th.acq_list.len() as u64), 0x7369_676e_616c))
    }

    /// Whether `obj`'s `kind` node exists.
    pub fn event_known(&self, obj: ObjId, kind: NodeKind) -> bool {
        self.known_node(obj, kind).is_some()
    }

    /// Whether `obj`'s `kind` node exists and has no waiter the engine may still count as
    /// waiting: a signal then wakes nobody and rule (b) adds nothing. Only a parked wait on
    /// `obj` makes it false again.
    pub fn event_open(&self, obj: ObjId, kind: NodeKind) -> bool {
        let Some(n) = self.known_node(obj, kind) else {
            return false;
        };
        self.waiters
            .get(&(obj.0, n))
            .is_none_or(|list| !list.iter().any(|&(w, s)| waiting(&self.threads, w, s)))
    }

    /// A signal of `obj`'s `kind` node that `from` made without telling the engine, right
    /// after its op numbered `at` ([`thread_seq`](Self::thread_seq) then): it becomes the
    /// node's last signal, as if made then, for the waits that observe it.
    pub fn note_signal(&mut self, obj: ObjId, kind: NodeKind, from: ThreadId, at: u64) {
        let Some(n) = self.known_node(obj, kind) else {
            return;
        };
        if self
            .threads
            .get(from.0 as usize)
            .is_none_or(Option::is_none)
        {
            return;
        }
        let msg = self.clock_after(from, at);
        self.last_signal.insert((obj.0, n), msg);
    }

    /// The sequence number of `t`'s latest op.
    pub fn thread_seq(&self, t: ThreadId) -> u64 {
        self.threads
            .get(t.0 as usize)
            .and_then(Option::as_ref)
            .map_or(0, |th| th.last_seq)
    }

    /// Whether `t` parked in its latest op and may still count as waiting: its next op must
    /// reach the engine (it ends the wait) before anything of it is skipped.
    pub fn parked(&self, t: ThreadId) -> bool {
        let Some(Some(th)) = self.threads.get(t.0 as usize) else {
            return false;
        };
        th.park_seq == Some(th.last_seq) || !th.incoming.is_empty()
    }

    /// Step `a` happens-before step `b` through cross-thread orders (never within a thread:
    /// a pattern in one thread can recur).
    pub(super) fn happens_before(&self, a: Step, b: Step) -> bool {
        if a.thread == b.thread {
            return false;
        }
        let Some(Some(tb)) = self.threads.get(b.thread as usize) else {
            return false;
        };
        let snap = Self::snap_at(tb, b.epoch);
        snap.get(a.thread as usize).is_some_and(|&c| c > a.seq)
    }

    /// Changes the thread's owed set, then recomputes its chain keys (the owed set is part of
    /// every chain key, so a cached chain never hides an owed-event edge).
    fn set_owed(&mut self, t: ThreadId, f: impl FnOnce(&mut Vec<Owed>)) {
        let th = self.thread_mut(t);
        f(&mut th.owed);
        th.owe_hash = th.owed.iter().fold(0u64, |h, o| {
            h.wrapping_add(mix(0x6f77_6564, u64::from(o.node)))
        });
        self.rekey(t);
    }

    /// A boundary: signal windows restart here.
    pub(super) fn boundary(&mut self, t: ThreadId) {
        let seq = self.seq;
        let th = self.thread_mut(t);
        th.win_start = seq;
        for &(c, _, _, _) in &th.acq_list {
            th.acq_bits[(c / 64) as usize] &= !(1u64 << (c % 64));
        }
        th.acq_list.clear();
        th.waits.clear();
    }

    /// Write-held lock objects of the thread (gate candidates of the edges it records now).
    fn current_gates(&self, t: ThreadId) -> Vec<Gate> {
        self.thread(t)
            .held
            .iter()
            .filter(|h| is_gate_hold(h.mode, h.check, h.pseudo))
            .map(|h| Gate {
                serial: h.serial,
                class: h.class,
            })
            .collect()
    }

    /// An owed edge `x -> to`: into the graph, or, for an `exit(T)` nobody joined yet, into
    /// the pending list (see `Engine::lazy_exit`). Returns true when its gate set is empty.
    #[allow(clippy::too_many_arguments)]
    fn owed_edge(
        &mut self,
        t: ThreadId,
        x: u32,
        to: u32,
        bits: u8,
        meta: EdgeMeta,
        gates: &[Gate],
        site: SiteId,
        stack: StackId,
    ) -> bool {
        if self.nodes[x as usize].kind == NodeKind::ThreadExit && !self.joined.contains(&x) {
            let (fc, tc) = (self.nodes[x as usize].class, self.nodes[to as usize].class);
            match self.lazy_index.get(&(x, to)) {
                Some(&i) => {
                    let entry = &mut self.lazy_exit.get_mut(&x).expect("indexed")[i];
                    entry.1 |= bits;
                    entry.2.timed &= meta.timed; // an untimed recording makes it hard
                    entry.3.retain(|g| gates.contains(g));
                    entry.3.is_empty()
                }
                None => {
                    let mine: Vec<Gate> = gates_outside(gates, fc, tc).collect();
                    let free = mine.is_empty();
                    let list = self.lazy_exit.entry(x).or_default();
                    self.lazy_index.insert((x, to), list.len());
                    list.push((to, bits, meta, mine));
                    free
                }
            }
        } else {
            self.add_edge(t, x, to, bits, meta, gates, site, stack)
        }
    }

    /// The first wait for `exit(T)`: the owed `exit(T) -> Y` edges recorded so far go into the
    /// graph now, before the waiter's own edges.
    fn materialize_exit(&mut self, y: u32, site: SiteId, stack: StackId) {
        if !self.joined.insert(y) {
            return;
        }
        for th in self.threads.iter_mut().flatten() {
            if th.exit_done_node == y {
                th.exit_done_node = u32::MAX; // its edges go into the graph now
            }
        }
        for (to, bits, meta, gates) in self.lazy_exit.remove(&y).unwrap_or_default() {
            self.lazy_index.remove(&(y, to));
            let t = ThreadId(meta.step.thread);
            self.add_edge(t, y, to, bits, meta, &gates, site, stack);
        }
    }

    /// Owed-event edges `X -> to` for a blocking acquire's chain miss. Returns true when they
    /// are all gate-free.
    pub(super) fn owed_edges(
        &mut self,
        t: ThreadId,
        to: u32,
        to_mode: Mode,
        gates: &[Gate],
        site: SiteId,
        stack: StackId,
    ) -> bool {
        let mut gate_free = true;
        // Its exit, then the owed list, read in place (this runs on every chain miss: no
        // allocation).
        let exit = self.exit_node(t);
        let n = self.thread(t).owed.len();
        for i in 0..=n {
            let (x, start, since) = if i == 0 {
                (exit, self.thread(t).start, SiteId::NONE)
            } else {
                let th = self.thread(t);
                let o = th.owed[i - 1];
                if o.node == exit || th.owed[..i - 1].iter().any(|p| p.node == o.node) {
                    continue;
                }
                (o.node, o.start, o.site)
            };
            if x == to {
                continue;
            }
            let rr = to_mode == Mode::ReadRecursive;
            let bit = 2 * to as usize + usize::from(rr);
            if i == 0 {
                let th = self.thread(t);
                if th.exit_done_node == x && bit_get(&th.exit_done, bit) {
                    continue; // pending, gate-free, of this type: nothing would change
                }
            }
            let meta = EdgeMeta {
                from_mode: Mode::Write,
                to_mode,
                // Where the thread began to owe `x`.
                from_site: since,
                to_site: site,
                stack,
                timed: false,
                rule: EdgeRule::Owed,
                step: start,
            };
            let bits = graph::edge_type(false, rr);
            let free = self.owed_edge(t, x, to, bits, meta, gates, site, stack);
            gate_free &= free;
            if i == 0 && free && !self.joined.contains(&x) {
                // Still pending (not in the graph): its gate set only shrinks and its type
                // only grows, so it stays complete until `materialize_exit` takes it.
                let th = self.thread_mut(t);
                if th.exit_done_node != x {
                    th.exit_done_node = x;
                    th.exit_done.clear();
                }
                bit_set(&mut th.exit_done, bit);
            }
        }
        gate_free
    }

    /// A committed wait of `t` for node `y`: edges from held locks (§1's walk), from owed
    /// events, and the self-wait check. `join_self`: joining itself (the only self-wait on
    /// `exit`).
    #[allow(clippy::too_many_arguments)]
    fn commit_wait(
        &mut self,
        t: ThreadId,
        y: u32,
        timed: bool,
        join_self: bool,
        site: SiteId,
        stack: StackId,
    ) {
        // §2: blocking (a parked wait, a join, a flush) where the thread must not block.
        let th = self.thread(t);
        if th.must_not_block() {
            let ctx = th.context_name();
            let what = self.node_name(y);
            let label = self.nodes[y as usize].label.clone();
            let title = format!("invalid wait context: waiting for {what} in {ctx} context");
            let notes = vec![format!("the thread is in {ctx} context and must not block")];
            let sig = vec![self.node_qualified(y)];
            self.emit_sig(
                Kind::InvalidContext,
                Severity::Error,
                vec![label],
                Some(sig),
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
        }
        if self.nodes[y as usize].kind == NodeKind::ThreadExit {
            self.materialize_exit(y, site, stack);
        }
        let exit = self.exit_node(t);
        let owed = self.owed_nodes(t);
        if join_self || (y != exit && owed.iter().any(|o| o.0 == y)) {
            let label = self.nodes[y as usize].label.clone();
            let what = self.node_name(y);
            let title = format!(
                "possible self-wait: {} waits for {what}, which only it can produce",
                self.thread(t).name
            );
            let mut notes = vec![format!(
                "the thread owes {what} (it runs, defers or declared the producing step, or it is that thread) and waits for it here"
            )];
            // Where it began to owe it: the producing step it cannot reach while it waits.
            if let Some(&(_, start, since)) = owed.iter().find(|o| o.0 == y) {
                notes.push(match self.site_opt(since) {
                    Some(s) => format!("it began to owe {what} at {s} (event #{})", start.seq),
                    None => format!(
                        "it began to owe {what} at event #{} (the trace gives no site)",
                        start.seq
                    ),
                });
            }
            let sig = vec![self.node_qualified(y)];
            self.emit_sig(
                Kind::SelfWait,
                Severity::Error,
                vec![label],
                Some(sig),
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
        }
        let gates = self.current_gates(t);
        // Held locks, as §1's walk for a blocking acquire: trylocks passed plus the first
        // non-try hold, check:false skipped, stop at an interrupt boundary.
        let th = self.thread(t);
        let level = th.irq_level();
        let mut holders = Vec::new();
        for h in th.held.iter().rev() {
            if h.irq_level != level {
                break;
            }
            if !h.check {
                continue;
            }
            holders.push(*h);
            if !h.try_ {
                break;
            }
        }
        for h in holders {
            let from = self.classes[h.class as usize].node;
            let meta = EdgeMeta {
                from_mode: h.mode,
                to_mode: Mode::Write,
                from_site: h.site,
                to_site: site,
                stack,
                timed,
                rule: EdgeRule::Held,
                step: Step {
                    thread: t.0,
                    seq: h.seq,
                    epoch: h.epoch,
                },
            };
            let bits = graph::edge_type(h.mode.is_shared(), false);
            self.add_edge(t, from, y, bits, meta, &gates, site, stack);
        }
        for (x, start, since) in owed {
            if x == y {
                continue;
            }
            let meta = EdgeMeta {
                from_mode: Mode::Write,
                to_mode: Mode::Write,
                from_site: since,
                to_site: site,
                stack,
                timed,
                rule: EdgeRule::Owed,
                step: start,
            };
            self.owed_edge(t, x, y, graph::EN, meta, &gates, site, stack);
        }
        let seq = self.seq;
        let th = self.thread_mut(t);
        let epoch = th.epoch;
        match th.waits.iter_mut().find(|w| w.0 == y) {
            Some(w) => {
                w.1 = seq;
                w.2 = epoch;
                w.3 = timed;
            }
            None => th.waits.push((y, seq, epoch, timed)),
        }
    }

    /// A parked wait on an event object: the wait itself, and the thread is now a pending
    /// waiter of `obj` until its next op.
    fn park(&mut self, t: ThreadId, obj: ObjId, y: u32, timed: bool, site: SiteId, stack: StackId) {
        self.commit_wait(t, y, timed, false, site, stack);
        let seq = self.seq;
        let th = self.thread_mut(t);
        th.last_seq = seq;
        th.park_seq = Some(seq);
        self.waiters.entry((obj.0, y)).or_default().push((t, seq));
    }

    /// `t` signals node `e` of object `obj`: rules (a) and (b), then wakes waiters.
    fn signal(&mut self, t: ThreadId, obj: ObjId, e: u32, all: bool, site: SiteId, stack: StackId) {
        let th = self.thread(t);
        // The window starts at the latest boundary, or at the obligation_begin of this event.
        let mut start = th.win_start;
        for o in &th.owed {
            if let OwedSrc::Obligation(ob, s) = o.src
                && ob == obj
            {
                start = start.max(s);
            }
        }
        // (a) locks held (not trylocked) or blocking-acquired since the window start, each
        // with the step that took it.
        let mut locks: Vec<(u32, bool, Step)> = th
            .held
            .iter()
            .filter(|h| h.check && !h.try_)
            .map(|h| {
                let step = Step {
                    thread: t.0,
                    seq: h.seq,
                    epoch: h.epoch,
                };
                (h.class, h.mode == Mode::ReadRecursive, step)
            })
            .collect();
        for &(c, s, rr, epoch) in &th.acq_list {
            if s >= start && !locks.iter().any(|l| l.0 == c) {
                let step = Step {
                    thread: t.0,
                    seq: s,
                    epoch,
                };
                locks.push((c, rr, step));
            }
        }
        // (b) pending waiters of this object: the earliest still waiting opens the window.
        let msg = self.vc_now(t);
        let mut w0 = None;
        let mut woken = Vec::new();
        if let Some(list) = self.waiters.get_mut(&(obj.0, e)) {
            let threads = &self.threads;
            list.retain(|&(w, s)| waiting(threads, w, s));
            w0 = list.iter().map(|&(_, s)| s).min();
            if all {
                woken.extend(list.drain(..).map(|(w, _)| w));
            } else if let Some(i) = list.iter().position(|&(_, s)| Some(s) == w0) {
                woken.push(list.remove(i).0);
            }
        }
        // Happens-before: the signal is ordered before the return of the waits it wakes, and
        // of later waits that find it already done.
        for w in woken {
            self.thread_mut(w).incoming.push(msg.clone());
        }
        self.last_signal.insert((obj.0, e), msg);
        let waits: Vec<(u32, Step, bool)> = match w0 {
            Some(w0) => self
                .thread(t)
                .waits
                .iter()
                .filter(|&&(y, s, _, _)| y != e && s >= start && s > w0)
                .map(|&(y, s, epoch, timed)| {
                    (
                        y,
                        Step {
                            thread: t.0,
                            seq: s,
                            epoch,
                        },
                        timed,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let gates = self.current_gates(t);
        for (c, rr, step) in locks {
            let to = self.classes[c as usize].node;
            let meta = EdgeMeta {
                from_mode: Mode::Write,
                to_mode: if rr { Mode::ReadRecursive } else { Mode::Write },
                from_site: site,
                to_site: SiteId::NONE,
                stack,
                timed: false,
                rule: EdgeRule::SignalLock,
                step,
            };
            self.add_edge(
                t,
                e,
                to,
                graph::edge_type(false, rr),
                meta,
                &gates,
                site,
                stack,
            );
        }
        for (y, step, timed) in waits {
            let meta = EdgeMeta {
                from_mode: Mode::Write,
                to_mode: Mode::Write,
                from_site: site,
                to_site: SiteId::NONE,
                stack,
                // A timed wait behind the edge makes cycles through it warnings.
                timed,
                rule: EdgeRule::SignalWait,
                step,
            };
            self.add_edge(t, e, y, graph::EN, meta, &gates, site, stack);
        }
    }

    /// A wait that did not park found its event already done: it is ordered after the signal.
    fn observe(&mut self, t: ThreadId, obj: ObjId, node: u32) {
        if let Some(m) = self.last_signal.get(&(obj.0, node)).cloned() {
            self.vc_merge(t, &m);
        }
    }

    /// Applies an event op (everything of §3 that is not a lock op).
    pub(super) fn apply_event(
        &mut self,
        op: &crate::op::Op,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        use crate::op::Op;
        match *op {
            Op::Join { thread, child } => {
                self.thread_mut(child);
                let y = self.exit_node(child);
                self.commit_wait(thread, y, false, thread == child, site, stack);
                if let Some(m) = self.exit_vc.get(&child.0).cloned() {
                    self.vc_merge(thread, &m); // the child's exit is before the join returns
                }
            }
            Op::Wait {
                thread,
                event,
                parked,
                timeout,
            } => {
                let y = self.obj_node(event, NodeKind::Done)?;
                if parked {
                    self.park(thread, event, y, timeout, site, stack);
                } else {
                    self.observe(thread, event, y);
                }
            }
            Op::Signal { thread, event, all } => {
                let e = self.obj_node(event, NodeKind::Done)?;
                self.signal(thread, event, e, all, site, stack);
            }
            Op::CondWait {
                thread,
                condvar,
                mutex,
                parked,
                timeout,
            } => {
                let y = self.obj_node(condvar, NodeKind::Notified)?;
                let held = self
                    .thread(thread)
                    .held
                    .iter()
                    .rev()
                    .find(|h| h.obj == mutex)
                    .map(|h| h.mode);
                match held {
                    Some(mode) => {
                        self.apply_lock_release(thread, mutex, site, stack)?;
                        if parked {
                            self.park(thread, condvar, y, timeout, site, stack);
                        } else {
                            self.observe(thread, condvar, y);
                        }
                        // Re-acquire, validated like any blocking acquire (decision 3).
                        self.apply_lock_acquire(thread, mutex, mode, site, stack)?;
                        let seq = self.seq;
                        let th = self.thread_mut(thread);
                        if parked {
                            // Still the pending waiter: the re-acquire is part of this op.
                            th.last_seq = seq;
                        }
                    }
                    None => {
                        // cond_wait without holding the mutex: bad_unlock on it, then a plain wait.
                        self.apply_lock_release(thread, mutex, site, stack)?;
                        if parked {
                            self.park(thread, condvar, y, timeout, site, stack);
                        }
                    }
                }
            }
            Op::Notify {
                thread,
                condvar,
                all,
            } => {
                let e = self.obj_node(condvar, NodeKind::Notified)?;
                self.signal(thread, condvar, e, all, site, stack);
            }
            Op::Inc { thread, counter } => {
                self.obj_node(counter, NodeKind::Zero)?;
                self.thread_mut(thread);
            }
            Op::Dec { thread, counter } => {
                let e = self.obj_node(counter, NodeKind::Zero)?;
                self.signal(thread, counter, e, true, site, stack);
            }
            Op::WaitZero {
                thread,
                counter,
                parked,
                timeout,
            } => {
                let y = self.obj_node(counter, NodeKind::Zero)?;
                if parked {
                    self.park(thread, counter, y, timeout, site, stack);
                } else {
                    self.observe(thread, counter, y);
                }
            }
            Op::Send {
                thread,
                channel,
                parked,
                timeout,
            } => {
                let space = self.obj_node(channel, NodeKind::Space)?;
                let avail = self.obj_node(channel, NodeKind::Avail)?;
                if parked {
                    self.park(thread, channel, space, timeout, site, stack);
                }
                self.signal(thread, channel, avail, false, site, stack);
            }
            Op::Recv {
                thread,
                channel,
                parked,
                timeout,
            } => {
                let space = self.obj_node(channel, NodeKind::Space)?;
                let avail = self.obj_node(channel, NodeKind::Avail)?;
                if parked {
                    self.park(thread, channel, avail, timeout, site, stack);
                } else {
                    self.observe(thread, channel, avail); // the message was sent before
                }
                self.signal(thread, channel, space, false, site, stack);
            }
            Op::Close { thread, channel } => {
                let space = self.obj_node(channel, NodeKind::Space)?;
                let avail = self.obj_node(channel, NodeKind::Avail)?;
                self.signal(thread, channel, avail, true, site, stack);
                self.signal(thread, channel, space, true, site, stack);
            }
            Op::Queue {
                thread,
                work,
                queue,
            } => {
                let ran = self.obj_node(work, NodeKind::Ran)?;
                let drained = self.obj_node(queue, NodeKind::Drained)?;
                self.thread_mut(thread);
                self.work_queue.insert(work.0, queue.0);
                let vc = self.vc_now(thread);
                self.work_vc.insert(work.0, vc);
                let meta = EdgeMeta {
                    from_mode: Mode::Write,
                    to_mode: Mode::Write,
                    from_site: site,
                    to_site: site,
                    stack,
                    timed: false,
                    rule: EdgeRule::Queue,
                    step: self.step_now(thread),
                };
                self.add_edge(thread, drained, ran, graph::EN, meta, &[], site, stack);
                // A capacity-1 queue without rescuer runs W after whatever runs on it now.
                let q = self.obj(queue)?.decl;
                if q.capacity == Some(1) && !q.rescuer {
                    let running: Vec<u32> =
                        self.running_on.get(&queue.0).cloned().unwrap_or_default();
                    for r in running {
                        if r != ran {
                            self.add_edge(thread, ran, r, graph::EN, meta, &[], site, stack);
                        }
                    }
                }
            }
            Op::RunBegin { thread, work } => {
                let ran = self.obj_node(work, NodeKind::Ran)?;
                self.thread_mut(thread);
                if let Some(m) = self.work_vc.get(&work.0).cloned() {
                    self.vc_merge(thread, &m); // queued (or handed over) before it runs
                }
                self.boundary(thread);
                let start = self.step_now(thread);
                if let Some(&q) = self.work_queue.get(&work.0) {
                    self.running_on.entry(q).or_default().push(ran);
                }
                // A deferred item of this thread's own list starts running: its obligations
                // become the running item's.
                self.set_owed(thread, |owed| {
                    owed.retain(|o| o.src != OwedSrc::Deferred(work));
                    owed.push(Owed {
                        node: ran,
                        src: OwedSrc::Running(work),
                        start,
                        site,
                    });
                });
                let th = self.thread_mut(thread);
                th.deferred.retain(|(i, _)| *i != work);
                th.running.push(work);
            }
            Op::RunEnd { thread, work } => {
                let ran = self.obj_node(work, NodeKind::Ran)?;
                self.thread_mut(thread);
                if let Some(&q) = self.work_queue.get(&work.0)
                    && let Some(list) = self.running_on.get_mut(&q)
                    && let Some(i) = list.iter().position(|&r| r == ran)
                {
                    list.remove(i);
                }
                self.set_owed(thread, |owed| {
                    if let Some(i) = owed.iter().rposition(|o| o.src == OwedSrc::Running(work)) {
                        owed.remove(i);
                    }
                });
                let th = self.thread_mut(thread);
                if let Some(i) = th.running.iter().rposition(|&w| w == work) {
                    th.running.remove(i);
                }
                let vc = self.vc_now(thread);
                self.ran_vc.insert(work.0, vc);
                self.boundary(thread);
            }
            Op::Flush { thread, work } => {
                let y = self.obj_node(work, NodeKind::Ran)?;
                self.commit_wait(thread, y, false, false, site, stack);
                if let Some(m) = self.ran_vc.get(&work.0).cloned() {
                    self.vc_merge(thread, &m); // the run ended before the flush returns
                }
            }
            Op::FlushQueue { thread, queue } => {
                let y = self.obj_node(queue, NodeKind::Drained)?;
                self.commit_wait(thread, y, false, false, site, stack);
            }
            Op::Defer {
                thread,
                item,
                ref produces,
            } => {
                let mut nodes = vec![self.obj_node(item, NodeKind::Ran)?];
                for p in produces.iter() {
                    nodes.push(match *p {
                        Produce::Signal(e) => self.obj_node(e, NodeKind::Done)?,
                        Produce::Dec(c) => self.obj_node(c, NodeKind::Zero)?,
                    });
                }
                self.thread_mut(thread).deferred.push((item, nodes.clone()));
                let start = self.step_now(thread);
                self.set_owed(thread, |owed| {
                    owed.extend(nodes.iter().map(|&node| Owed {
                        node,
                        src: OwedSrc::Deferred(item),
                        start,
                        site,
                    }));
                });
            }
            Op::FlushPoint { thread, kind } => {
                self.thread_mut(thread);
                if kind == FlushKind::Base {
                    self.check_held_at_exit(thread, site, stack, "a base flush point");
                }
                let items = std::mem::take(&mut self.thread_mut(thread).deferred);
                self.set_owed(thread, |owed| {
                    owed.retain(|o| !matches!(o.src, OwedSrc::Deferred(_)))
                });
                match kind {
                    // The items run now (as run_begin/run_end of the items) or before parking.
                    FlushKind::Base | FlushKind::Blocking => {}
                    // Handed to R: R owes what they produce until it runs them.
                    FlushKind::Transfer(r) => {
                        self.thread_mut(r);
                        let vc = self.vc_now(thread);
                        for (i, _) in &items {
                            // Handed over before R runs it.
                            self.work_vc.insert(i.0, vc.clone());
                        }
                        let start = self.step_now(r);
                        let owed: Vec<Owed> = items
                            .iter()
                            .flat_map(|(i, nodes)| {
                                nodes.iter().map(move |&node| Owed {
                                    node,
                                    src: OwedSrc::Deferred(*i),
                                    start,
                                    site,
                                })
                            })
                            .collect();
                        self.thread_mut(r).deferred.extend(items);
                        self.set_owed(r, |o| o.extend(owed));
                        // Another thread's chain keys changed under it (see `foreign_rekeys`).
                        self.foreign_rekeys += 1;
                    }
                }
                if kind == FlushKind::Base {
                    self.boundary(thread);
                }
            }
            Op::ObligationBegin { thread, event } => {
                let node = self.produced_node(event)?;
                self.thread_mut(thread);
                let start = self.step_now(thread);
                self.set_owed(thread, |owed| {
                    owed.push(Owed {
                        node,
                        src: OwedSrc::Obligation(event, start.seq),
                        start,
                        site,
                    })
                });
            }
            Op::ObligationEnd { thread, event } => {
                self.produced_node(event)?;
                self.set_owed(thread, |owed| {
                    if let Some(i) = owed
                        .iter()
                        .rposition(|o| matches!(o.src, OwedSrc::Obligation(e, _) if e == event))
                    {
                        owed.remove(i);
                    }
                });
            }
            _ => unreachable!("apply_event is only called for event ops"),
        }
        Ok(())
    }

    /// `spawn`: the parent's steps so far happen-before the child's first op.
    pub(super) fn spawned(&mut self, parent: ThreadId, child: ThreadId) {
        let vc = self.vc_now(parent);
        self.thread_mut(child).incoming.push(vc);
    }

    /// Clears what a thread owes when it exits (its obligations end with it).
    pub(super) fn exit_events(&mut self, t: ThreadId) {
        let vc = self.vc_now(t);
        self.exit_vc.insert(t.0, vc);
        let th = self.thread_mut(t);
        th.deferred.clear();
        th.running.clear();
        self.set_owed(t, Vec::clear);
        self.boundary(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Event, Op};

    /// A thread that joins many children keeps a bounded number of clock snapshots, and the
    /// thinned ones only ever lose orderings: every ordering reported is real.
    #[test]
    fn snapshots_are_bounded_and_never_invent_an_order() {
        let mut e = Engine::new();
        let main = ThreadId(0);
        let mut child_steps = Vec::new();
        let mut main_steps = Vec::new();
        let n = 300u32;
        for k in 1..=n {
            let c = ThreadId(k);
            for op in [
                Op::Spawn {
                    thread: main,
                    child: c,
                },
                Op::MightSleep { thread: c },
            ] {
                e.apply(&Event::new(op)).unwrap();
            }
            child_steps.push(e.step_now(c));
            for op in [
                Op::Exit { thread: c },
                Op::Join {
                    thread: main,
                    child: c,
                },
                Op::MightSleep { thread: main },
            ] {
                e.apply(&Event::new(op)).unwrap();
            }
            main_steps.push(e.step_now(main));
        }
        let snaps = e.thread(main).snaps.len();
        assert!(
            snaps <= SNAPS_RECENT + SNAPS_SLACK,
            "{snaps} snapshots kept"
        );
        let n = n as usize;
        let mut kept = 0;
        for (i, &a) in child_steps.iter().enumerate() {
            for (j, &b) in main_steps.iter().enumerate() {
                let hb = e.happens_before(a, b);
                // Child i is joined before main step j exactly when i <= j.
                assert!(!hb || i <= j, "child {i} claimed before main step {j}");
                if i <= j && j >= n - SNAPS_RECENT {
                    assert!(hb, "recent main step {j} lost child {i}");
                }
                kept += usize::from(hb);
            }
        }
        assert!(kept > 0);
    }
}
