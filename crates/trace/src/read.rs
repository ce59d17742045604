//! Reading trace format v1 into engine events.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use lockdep_core::{
    Context, Engine, Event, FlushKind, Mode, ObjDecl, ObjId, ObjKind, Op, Produce, Report, SiteId,
    StackId, ThreadId,
};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// An input error: which file and line, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// File name as given.
    pub file: String,
    /// 1-based line number (0 when the error is not tied to a line).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for TraceError {}

/// One `expect` entry of a scenario header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Acceptable kinds (`a|b` in the file).
    pub kinds: Vec<String>,
    /// Classes compared as a set; `None` = any.
    pub classes: Option<Vec<String>>,
}

/// The optional first line of a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Scenario name.
    pub name: Option<String>,
    /// Description.
    pub about: Option<String>,
    /// Error reports that must appear (`None` when the header has no `expect`).
    pub expect: Option<Vec<Expect>>,
    /// Further error kinds that may appear.
    pub allow: Vec<String>,
    /// Warning reports that must appear, and no others (`None` = warnings are not compared).
    /// This project's own scenarios use it; the shared corpus does not.
    pub warnings: Option<Vec<Expect>>,
}

/// A trace identifier: JSON string or non-negative integer (`"7"` and `7` differ).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident<'a> {
    Str(Cow<'a, str>),
    Num(u64),
}

impl Ident<'_> {
    fn display(&self) -> String {
        match self {
            Ident::Str(s) => s.to_string(),
            Ident::Num(n) => n.to_string(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Ident<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ident<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an identifier (a string or a non-negative integer)")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Ident::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Ident::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Ident::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Ident::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(Ident::Num)
                    .map_err(|_| E::custom(format!("identifier {v} is negative")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string borrowed from the line when it has no escapes (serde's own `Cow<str>`
/// always allocates, which made allocation the top cost of reading a trace).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct BStr<'a>(Cow<'a, str>);

impl std::ops::Deref for BStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Produces<'a> {
    #[serde(borrow)]
    signal: Option<Ident<'a>>,
    #[serde(borrow)]
    dec: Option<Ident<'a>>,
}

/// One op line, every field optional; `convert` checks what each op requires.
#[derive(Debug, Default)]
struct Line<'a> {
    op: Option<BStr<'a>>,
    thread: Option<Ident<'a>>,
    id: Option<Ident<'a>>,
    type_: Option<BStr<'a>>,
    class: Option<BStr<'a>>,
    subclass: Option<u8>,
    spin: Option<bool>,
    capacity: Option<u32>,
    rescuer: Option<bool>,
    fair: Option<bool>,
    object: Option<Ident<'a>>,
    child: Option<Ident<'a>>,
    lock: Option<Ident<'a>>,
    mode: Option<BStr<'a>>,
    try_: Option<bool>,
    nest_lock: Option<Ident<'a>>,
    check: Option<bool>,
    event: Option<Ident<'a>>,
    parked: Option<bool>,
    timeout: Option<bool>,
    all: Option<bool>,
    condvar: Option<Ident<'a>>,
    mutex: Option<Ident<'a>>,
    counter: Option<Ident<'a>>,
    channel: Option<Ident<'a>>,
    work: Option<Ident<'a>>,
    queue: Option<Ident<'a>>,
    item: Option<Ident<'a>>,
    produces: Option<Vec<Produces<'a>>>,
    kind: Option<BStr<'a>>,
    to: Option<Ident<'a>>,
    context: Option<BStr<'a>>,
    site: Option<BStr<'a>>,
    stack: Option<Vec<BStr<'a>>>,
}

/// Fills a [`Line`] in place while reading the JSON object: serde's derived visitor would
/// build the 600-byte struct and move it several times per line, which showed as the top
/// cost of `lockdep check` in profiles.
struct LineSeed<'l, 'a>(&'l mut Line<'a>);

impl<'de: 'a, 'a> de::DeserializeSeed<'de> for LineSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for LineSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        fn put<'de, T: Deserialize<'de>, M: de::MapAccess<'de>>(
            slot: &mut Option<T>,
            name: &str,
            map: &mut M,
        ) -> Result<(), M::Error> {
            if slot.is_some() {
                return Err(de::Error::custom(format!("duplicate field `{name}`")));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        let l = self.0;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "op" => put(&mut l.op, "op", &mut map)?,
                "thread" => put(&mut l.thread, "thread", &mut map)?,
                "id" => put(&mut l.id, "id", &mut map)?,
                "type" => put(&mut l.type_, "type", &mut map)?,
                "class" => put(&mut l.class, "class", &mut map)?,
                "subclass" => put(&mut l.subclass, "subclass", &mut map)?,
                "spin" => put(&mut l.spin, "spin", &mut map)?,
                "capacity" => put(&mut l.capacity, "capacity", &mut map)?,
                "rescuer" => put(&mut l.rescuer, "rescuer", &mut map)?,
                "fair" => put(&mut l.fair, "fair", &mut map)?,
                "object" => put(&mut l.object, "object", &mut map)?,
                "child" => put(&mut l.child, "child", &mut map)?,
                "lock" => put(&mut l.lock, "lock", &mut map)?,
                "mode" => put(&mut l.mode, "mode", &mut map)?,
                "try" => put(&mut l.try_, "try", &mut map)?,
                "nest_lock" => put(&mut l.nest_lock, "nest_lock", &mut map)?,
                "check" => put(&mut l.check, "check", &mut map)?,
                "event" => put(&mut l.event, "event", &mut map)?,
                "parked" => put(&mut l.parked, "parked", &mut map)?,
                "timeout" => put(&mut l.timeout, "timeout", &mut map)?,
                "all" => put(&mut l.all, "all", &mut map)?,
                "condvar" => put(&mut l.condvar, "condvar", &mut map)?,
                "mutex" => put(&mut l.mutex, "mutex", &mut map)?,
                "counter" => put(&mut l.counter, "counter", &mut map)?,
                "channel" => put(&mut l.channel, "channel", &mut map)?,
                "work" => put(&mut l.work, "work", &mut map)?,
                "queue" => put(&mut l.queue, "queue", &mut map)?,
                "item" => put(&mut l.item, "item", &mut map)?,
                "produces" => put(&mut l.produces, "produces", &mut map)?,
                "kind" => put(&mut l.kind, "kind", &mut map)?,
                "to" => put(&mut l.to, "to", &mut map)?,
                "context" => put(&mut l.context, "context", &mut map)?,
                "site" => put(&mut l.site, "site", &mut map)?,
                "stack" => put(&mut l.stack, "stack", &mut map)?,
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown field `{other}`, expected one of `op`, `thread`, `id`, `type`, `class`, `subclass`, `spin`, `capacity`, `rescuer`, `fair`, `object`, `child`, `lock`, `mode`, `try`, `nest_lock`, `check`, `event`, `parked`, `timeout`, `all`, `condvar`, `mutex`, `counter`, `channel`, `work`, `queue`, `item`, `produces`, `kind`, `to`, `context`, `site`, `stack`"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct IdMap {
    /// Strings of up to 15 bytes, packed with their length into a `u128`: no string hashing
    /// and no `memcmp` for the ids traces are made of (`T1`, `L17`, `worker-3`).
    short: FxHashMap<u128, u32>,
    strs: FxHashMap<String, u32>,
    nums: FxHashMap<u64, u32>,
}

fn pack(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..b.len()].copy_from_slice(b);
    bytes[15] = b.len() as u8;
    Some(u128::from_le_bytes(bytes))
}

impl IdMap {
    fn get(&self, id: &Ident<'_>) -> Option<u32> {
        match id {
            Ident::Str(s) => match pack(s) {
                Some(k) => self.short.get(&k).copied(),
                None => self.strs.get(s.as_ref()).copied(),
            },
            Ident::Num(n) => self.nums.get(n).copied(),
        }
    }
    fn insert(&mut self, id: &Ident<'_>, v: u32) {
        match id {
            Ident::Str(s) => match pack(s) {
                Some(k) => self.short.insert(k, v),
                None => self.strs.insert(s.to_string(), v),
            },
            Ident::Num(n) => self.nums.insert(*n, v),
        };
    }
}

/// Feeds trace lines to an engine, keeping the trace's identifiers apart from the engine's
/// dense ids. One `Replayer` per engine; several files may share one (`--merge`).
#[derive(Debug)]
pub struct Replayer {
    /// The engine being fed.
    pub engine: Engine,
    threads: IdMap,
    objs: IdMap,
    obj_count: u32,
    /// Trace line (file index, line) of each report, by report index.
    report_lines: Vec<(usize, usize)>,
    files: Vec<String>,
    events: u64,
    thread_count: u32,
    /// Reused per line: the implicit declarations plus the op.
    scratch: Vec<Op>,
}

impl Default for Replayer {
    fn default() -> Self {
        Self::new()
    }
}

/// What a checked file produced.
#[derive(Debug)]
pub struct Checked {
    /// The header, if the file had one.
    pub header: Option<Header>,
    /// Events applied.
    pub events: u64,
}

/// A report with the trace position that raised it.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// The report.
    pub report: &'a Report,
    /// File the report came from.
    pub file: &'a str,
    /// 1-based line in that file.
    pub line: usize,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "write" => Ok(Mode::Write),
        "read" => Ok(Mode::Read),
        "read_recursive" => Ok(Mode::ReadRecursive),
        _ => Err(format!(
            "unknown mode {s:?} (expected write, read or read_recursive)"
        )),
    }
}

fn parse_kind(s: &str) -> Result<Option<ObjKind>, String> {
    Ok(Some(match s {
        "mutex" => ObjKind::Mutex,
        "rwlock" => ObjKind::RwLock,
        "spinlock" => ObjKind::SpinLock,
        "pseudo" => ObjKind::Pseudo,
        "completion" => ObjKind::Completion,
        "waitqueue" => ObjKind::WaitQueue,
        "condvar" => ObjKind::Condvar,
        "counter" => ObjKind::Counter,
        "channel" => ObjKind::Channel,
        "workqueue" => ObjKind::WorkQueue,
        "work" => ObjKind::Work,
        "thread" => return Ok(None),
        _ => {
            return Err(format!(
                "unknown type {s:?} (expected mutex, rwlock, spinlock, pseudo, completion, waitqueue, condvar, counter, channel, workqueue, work or thread)"
            ));
        }
    }))
}

fn parse_context(s: &str) -> Result<Context, String> {
    match s {
        "hardirq" => Ok(Context::Hardirq),
        "softirq" => Ok(Context::Softirq),
        "atomic" => Ok(Context::Atomic),
        "boundary" => Ok(Context::Boundary),
        _ => Err(format!(
            "unknown context {s:?} (expected hardirq, softirq, atomic or boundary)"
        )),
    }
}

fn need<T>(v: Option<T>, field: &str, op: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("op {op:?} needs field {field:?}"))
}

/// Parses the header object of a trace.
fn parse_header(v: &serde_json::Value) -> Result<Header, String> {
    let obj = v.as_object().ok_or("header is not an object")?;
    match obj.get("lockdep_trace") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => {
            return Err(format!(
                "unsupported trace version {other} (this reader knows version 1)"
            ));
        }
        None => return Err("not a header".into()),
    }
    let s = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let expect = parse_expect_list(obj.get("expect"), "expect")?;
    let warnings = parse_expect_list(obj.get("warnings"), "warnings")?;
    let allow = match obj.get("allow") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_owned)
                    .ok_or("header: allow must hold strings")
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("header: allow must be an array".into()),
    };
    Ok(Header {
        name: s("name"),
        about: s("about"),
        expect,
        allow,
        warnings,
    })
}

fn parse_expect_list(
    v: Option<&serde_json::Value>,
    field: &str,
) -> Result<Option<Vec<Expect>>, String> {
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(items)) => {
            let mut out = Vec::new();
            for it in items {
                let kind = it.get("kind").and_then(|k| k.as_str()).ok_or(format!(
                    "header: every {field} entry needs a string \"kind\""
                ))?;
                let classes = match it.get("classes") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::Array(cs)) => Some(
                        cs.iter()
                            .map(|c| {
                                c.as_str()
                                    .map(str::to_owned)
                                    .ok_or("header: classes must be strings")
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => {
                        return Err(format!("header: {field} classes must be an array or null"));
                    }
                };
                out.push(Expect {
                    kinds: kind.split('|').map(str::to_owned).collect(),
                    classes,
                });
            }
            Some(out)
        }
        Some(_) => return Err(format!("header: {field} must be an array")),
    })
}

impl Replayer {
    /// A replayer over a fresh engine.
    pub fn new() -> Self {
        Replayer {
            engine: Engine::new(),
            threads: IdMap::default(),
            objs: IdMap::default(),
            obj_count: 0,
            report_lines: Vec::new(),
            files: Vec::new(),
            events: 0,
            thread_count: 0,
            scratch: Vec::with_capacity(4),
        }
    }

    /// Events applied so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Reports so far with the file and line that raised each.
    pub fn located_reports(&self) -> Vec<Located<'_>> {
        self.engine
            .reports()
            .iter()
            .zip(&self.report_lines)
            .map(|(report, &(f, line))| Located {
                report,
                file: &self.files[f],
                line,
            })
            .collect()
    }

    /// Reads a whole trace from `input`, feeding every line to the engine. `file` names the
    /// input in errors. Stops at the first input error; everything before it is applied.
    ///
    /// Reading a second trace into the same replayer merges it: classes match by name, while
    /// thread and object identifiers are the new file's own (two processes' `T1` differ).
    pub fn read(&mut self, file: &str, mut input: impl Read) -> Result<Checked, TraceError> {
        // Whole lines are taken from ~1 MiB windows and each is parsed and applied at once
        // (parsing lines in parallel was measured: it did not pay for moving the parsed lines).
        const WINDOW: usize = 1 << 20;
        if !self.files.is_empty() {
            self.threads = IdMap::default();
            self.objs = IdMap::default();
        }
        self.files.push(file.to_owned());
        let fidx = self.files.len() - 1;
        let start_events = self.events;
        let mut header = None;
        let mut seen_first = false;
        let mut lineno = 0usize;
        let mut buf: Vec<u8> = Vec::with_capacity(WINDOW + 64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut eof = false;
        while !eof {
            while buf.len() < WINDOW {
                let n = input.read(&mut chunk).map_err(|e| TraceError {
                    file: file.to_owned(),
                    line: lineno + 1,
                    message: format!("read error: {e}"),
                })?;
                if n == 0 {
                    eof = true;
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let cut = if eof {
                buf.len()
            } else {
                match buf.iter().rposition(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    None => continue, // one line longer than the window: read on
                }
            };
            for raw in buf[..cut].split_inclusive(|&b| b == b'\n') {
                lineno += 1;
                let text = raw.trim_ascii();
                if text.is_empty() || text.starts_with(b"#") {
                    continue;
                }
                let at = |message: String| TraceError {
                    file: file.to_owned(),
                    line: lineno,
                    message,
                };
                if !seen_first {
                    seen_first = true;
                    if let Some(h) = parse_header_line(text).map_err(at)? {
                        header = Some(h);
                        continue;
                    }
                }
                let mut line = Line::default();
                parse_line(text, &mut line).map_err(at)?;
                self.feed(&line, fidx, lineno).map_err(at)?;
            }
            buf.drain(..cut);
        }
        Ok(Checked {
            header,
            events: self.events - start_events,
        })
    }

    fn feed(&mut self, l: &Line<'_>, fidx: usize, lineno: usize) -> Result<(), String> {
        let Some(opname) = l.op.as_deref() else {
            if self.events == 0 && lineno > 0 {
                return Err("line has no \"op\" (a header must be the first object and carry \"lockdep_trace\")".into());
            }
            return Err("line has no \"op\"".into());
        };
        let mut ops = std::mem::take(&mut self.scratch);
        ops.clear();
        let op = self.convert(opname, l, &mut ops);
        let op = match op {
            Ok(op) => op,
            Err(e) => {
                self.scratch = ops;
                return Err(e);
            }
        };
        ops.push(op);
        let site = match &l.site {
            Some(s) => self.engine.intern_site(s),
            None => SiteId::NONE,
        };
        let stack = match &l.stack {
            Some(frames) if !frames.is_empty() => {
                let ids: Vec<SiteId> = frames.iter().map(|f| self.engine.intern_site(f)).collect();
                self.engine.intern_stack(&ids)
            }
            _ => StackId::NONE,
        };
        let mut result = Ok(());
        for op in ops.drain(..) {
            let before = self.engine.reports().len();
            if let Err(e) = self.engine.apply(&Event { op, site, stack }) {
                result = Err(e.message);
                break;
            }
            self.events += 1;
            let after = self.engine.reports().len();
            for _ in before..after {
                self.report_lines.push((fidx, lineno));
            }
        }
        self.scratch = ops;
        result
    }

    fn thread(&mut self, id: &Ident<'_>) -> ThreadId {
        if let Some(t) = self.threads.get(id) {
            return ThreadId(t);
        }
        let t = self.thread_count;
        self.thread_count += 1;
        self.threads.insert(id, t);
        self.engine.set_thread_name(ThreadId(t), &id.display());
        ThreadId(t)
    }

    /// Resolves an object, declaring it implicitly (class = its id, kind = `kind`) on first
    /// use. `pre` collects the implicit `new`.
    fn obj(&mut self, id: &Ident<'_>, kind: ObjKind, pre: &mut Vec<Op>) -> ObjId {
        if let Some(i) = self.objs.get(id) {
            return ObjId(i);
        }
        let obj = ObjId(self.obj_count);
        self.obj_count += 1;
        self.objs.insert(id, obj.0);
        let class = self.engine.intern(&id.display());
        pre.push(Op::New {
            obj,
            decl: ObjDecl::new(kind, class),
        });
        obj
    }

    fn convert(&mut self, name: &str, l: &Line<'_>, pre: &mut Vec<Op>) -> Result<Op, String> {
        if name == "new" {
            return self.op_new(l);
        }
        let thread = self.thread(need(l.thread.as_ref(), "thread", name)?);
        let timeout = l.timeout.unwrap_or(false);
        let parked = l.parked.unwrap_or(true);
        macro_rules! obj {
            ($field:ident, $kind:expr) => {{
                let id = need(l.$field.as_ref(), stringify!($field), name)?.clone();
                self.obj(&id, $kind, pre)
            }};
        }
        let op = match name {
            "free" => Op::Free {
                thread,
                obj: obj!(object, ObjKind::Mutex),
            },
            "spawn" => {
                let child = self.thread(need(l.child.as_ref(), "child", name)?);
                Op::Spawn { thread, child }
            }
            "exit" => Op::Exit { thread },
            "join" => {
                let child = self.thread(need(l.child.as_ref(), "child", name)?);
                Op::Join { thread, child }
            }
            "acquire" | "might_acquire" => {
                let mode = match &l.mode {
                    Some(m) => parse_mode(m)?,
                    None => Mode::Write,
                };
                let implicit = if mode == Mode::Write {
                    ObjKind::Mutex
                } else {
                    ObjKind::RwLock
                };
                let lock = obj!(lock, implicit);
                if name == "might_acquire" {
                    Op::MightAcquire { thread, lock, mode }
                } else {
                    if let Some(s) = l.subclass
                        && s > 7
                    {
                        return Err(format!("subclass {s} out of range 0..=7"));
                    }
                    let nest_lock = l
                        .nest_lock
                        .as_ref()
                        .map(|id| self.obj(&id.clone(), ObjKind::Mutex, pre));
                    Op::Acquire {
                        thread,
                        lock,
                        mode,
                        try_: l.try_.unwrap_or(false),
                        subclass: l.subclass,
                        nest_lock,
                        check: l.check.unwrap_or(true),
                    }
                }
            }
            "release" => Op::Release {
                thread,
                lock: obj!(lock, ObjKind::Mutex),
            },
            "enter" | "leave" => {
                let ctx = parse_context(need(l.context.as_deref(), "context", name)?)?;
                if name == "enter" {
                    Op::Enter { thread, ctx }
                } else {
                    Op::Leave { thread, ctx }
                }
            }
            "irq_disable" => Op::IrqDisable { thread },
            "irq_enable" => Op::IrqEnable { thread },
            "softirq_disable" => Op::SoftirqDisable { thread },
            "softirq_enable" => Op::SoftirqEnable { thread },
            "might_sleep" => Op::MightSleep { thread },
            "wait" => Op::Wait {
                thread,
                event: obj!(event, ObjKind::Completion),
                parked,
                timeout,
            },
            "signal" => Op::Signal {
                thread,
                event: obj!(event, ObjKind::Completion),
                all: l.all.unwrap_or(false),
            },
            "cond_wait" => Op::CondWait {
                thread,
                condvar: obj!(condvar, ObjKind::Condvar),
                mutex: obj!(mutex, ObjKind::Mutex),
                parked,
                timeout,
            },
            "notify" => Op::Notify {
                thread,
                condvar: obj!(condvar, ObjKind::Condvar),
                all: l.all.unwrap_or(false),
            },
            "inc" => Op::Inc {
                thread,
                counter: obj!(counter, ObjKind::Counter),
            },
            "dec" => Op::Dec {
                thread,
                counter: obj!(counter, ObjKind::Counter),
            },
            "wait_zero" => Op::WaitZero {
                thread,
                counter: obj!(counter, ObjKind::Counter),
                parked,
                timeout,
            },
            "send" => Op::Send {
                thread,
                channel: obj!(channel, ObjKind::Channel),
                parked: l.parked.unwrap_or(false),
                timeout,
            },
            "recv" => Op::Recv {
                thread,
                channel: obj!(channel, ObjKind::Channel),
                parked,
                timeout,
            },
            "close" => Op::Close {
                thread,
                channel: obj!(channel, ObjKind::Channel),
            },
            "queue" => Op::Queue {
                thread,
                work: obj!(work, ObjKind::Work),
                queue: obj!(queue, ObjKind::WorkQueue),
            },
            "run_begin" => Op::RunBegin {
                thread,
                work: obj!(work, ObjKind::Work),
            },
            "run_end" => Op::RunEnd {
                thread,
                work: obj!(work, ObjKind::Work),
            },
            "flush" => Op::Flush {
                thread,
                work: obj!(work, ObjKind::Work),
            },
            "flush_queue" => Op::FlushQueue {
                thread,
                queue: obj!(queue, ObjKind::WorkQueue),
            },
            "defer" => {
                let item = obj!(item, ObjKind::Deferred);
                let mut produces = Vec::new();
                for p in need(l.produces.as_ref(), "produces", name)? {
                    match (&p.signal, &p.dec) {
                        (Some(e), None) => produces.push(Produce::Signal(self.obj(
                            &e.clone(),
                            ObjKind::Completion,
                            pre,
                        ))),
                        (None, Some(c)) => {
                            produces.push(Produce::Dec(self.obj(&c.clone(), ObjKind::Counter, pre)))
                        }
                        _ => {
                            return Err(
                                "each produces entry needs exactly one of \"signal\" or \"dec\""
                                    .into(),
                            );
                        }
                    }
                }
                Op::Defer {
                    thread,
                    item,
                    produces: produces.into_boxed_slice(),
                }
            }
            "flush_point" => {
                let kind = match need(l.kind.as_deref(), "kind", name)? {
                    "base" => FlushKind::Base,
                    "blocking" => FlushKind::Blocking,
                    "transfer" => {
                        FlushKind::Transfer(self.thread(need(l.to.as_ref(), "to", name)?))
                    }
                    other => {
                        return Err(format!(
                            "unknown flush point kind {other:?} (expected base, blocking or transfer)"
                        ));
                    }
                };
                Op::FlushPoint { thread, kind }
            }
            "obligation_begin" => Op::ObligationBegin {
                thread,
                event: obj!(event, ObjKind::Completion),
            },
            "obligation_end" => Op::ObligationEnd {
                thread,
                event: obj!(event, ObjKind::Completion),
            },
            other => return Err(format!("unknown op {other:?}")),
        };
        Ok(op)
    }

    fn op_new(&mut self, l: &Line<'_>) -> Result<Op, String> {
        let id = need(l.id.as_ref(), "id", "new")?;
        let kind = parse_kind(need(l.type_.as_deref(), "type", "new")?)?;
        let Some(kind) = kind else {
            let thread = self.thread(id);
            let class = l
                .class
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_else(|| id.display());
            let class = self.engine.intern(&class);
            return Ok(Op::ThreadClass { thread, class });
        };
        if let Some(s) = l.subclass
            && s > 7
        {
            return Err(format!("subclass {s} out of range 0..=7"));
        }
        let class_name = l
            .class
            .as_deref()
            .map(str::to_owned)
            .unwrap_or_else(|| id.display());
        let class = self.engine.intern(&class_name);
        let obj = match self.objs.get(id) {
            Some(i) => ObjId(i),
            None => {
                let obj = ObjId(self.obj_count);
                self.obj_count += 1;
                self.objs.insert(id, obj.0);
                obj
            }
        };
        let mut decl = ObjDecl::new(kind, class);
        decl.subclass = l.subclass.unwrap_or(0);
        decl.spin = l.spin;
        decl.fair = l.fair.unwrap_or(true);
        decl.capacity = l.capacity;
        decl.rescuer = l.rescuer.unwrap_or(false);
        Ok(Op::New { obj, decl })
    }
}

/// The header of a trace, if this first line is one (`Ok(None)`: an ordinary op line).
fn parse_header_line(text: &[u8]) -> Result<Option<Header>, String> {
    const KEY: &[u8] = b"\"lockdep_trace\"";
    if !text.windows(KEY.len()).any(|w| w == KEY) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(text).map_err(json_message)?;
    if v.get("lockdep_trace").is_none() {
        return Ok(None);
    }
    parse_header(&v).map(Some)
}

/// Parses one op line (borrowing its strings) into `line`, which must be empty.
fn parse_line<'a>(text: &'a [u8], line: &mut Line<'a>) -> Result<(), String> {
    // Validate UTF-8 once per line; `from_str` then borrows strings without checking each
    // again (as `from_slice` would).
    let text = std::str::from_utf8(text)
        .map_err(|e| format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to() + 1))?;
    let mut de = serde_json::Deserializer::from_str(text);
    de::DeserializeSeed::deserialize(LineSeed(line), &mut de)
        .and_then(|()| de.end())
        .map_err(json_message)
}

/// Turns serde_json's message into the reader's wording.
fn json_message(e: serde_json::Error) -> String {
    use serde_json::error::Category;
    let msg = e.to_string();
    // serde_json appends " at line 1 column N"; the column is useful, the line is not.
    let msg = match msg.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &msg[..i], e.column()),
        None => msg,
    };
    match e.classify() {
        Category::Syntax | Category::Eof => format!("not valid JSON: {msg}"),
        Category::Data => msg,
        Category::Io => format!("read error: {msg}"),
    }
}
