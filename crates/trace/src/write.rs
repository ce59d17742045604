//! Writing events as trace format v1.

use std::io::{self, Write};

use lockdep_core::{Context, Event, FlushKind, Mode, ObjKind, Op, Produce};
use serde_json::{Map, Value, json};

/// Writes engine events as JSON Lines. Objects and threads are written as the numbers the
/// engine uses; class names and sites are resolved through the callbacks given.
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
}

fn ctx(c: Context) -> &'static str {
    c.as_str()
}

fn mode(m: Mode) -> &'static str {
    m.as_str()
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace: writes the header line.
    pub fn new(mut out: W, name: &str) -> io::Result<Self> {
        writeln!(out, "{}", json!({"lockdep_trace": 1, "name": name}))?;
        Ok(TraceWriter { out })
    }

    /// Writes one event. `name` resolves class names, `site` resolves site ids (`None` for
    /// no site), `stack` resolves stack ids to their sites.
    pub fn write(
        &mut self,
        ev: &Event,
        name: &dyn Fn(lockdep_core::NameId) -> String,
        site: &dyn Fn(lockdep_core::SiteId) -> Option<String>,
        stack: &dyn Fn(lockdep_core::StackId) -> Vec<String>,
    ) -> io::Result<()> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("op", json!(ev.op.name()));
        match &ev.op {
            Op::New { obj, decl } => {
                put("id", json!(obj.0));
                put(
                    "type",
                    json!(match decl.kind {
                        ObjKind::Deferred => "work",
                        k => k.as_str(),
                    }),
                );
                put("class", json!(name(decl.class)));
                if decl.subclass != 0 {
                    put("subclass", json!(decl.subclass));
                }
                if let Some(s) = decl.spin {
                    put("spin", json!(s));
                }
                if !decl.fair {
                    put("fair", json!(false));
                }
                if let Some(c) = decl.capacity {
                    put("capacity", json!(c));
                }
                if decl.rescuer {
                    put("rescuer", json!(true));
                }
            }
            Op::ThreadClass { thread, class } => {
                put("id", json!(thread.0));
                put("type", json!("thread"));
                put("class", json!(name(*class)));
            }
            Op::Free { thread, obj } => {
                put("thread", json!(thread.0));
                put("object", json!(obj.0));
            }
            Op::Spawn { thread, child } | Op::Join { thread, child } => {
                put("thread", json!(thread.0));
                put("child", json!(child.0));
            }
            Op::Exit { thread }
            | Op::IrqDisable { thread }
            | Op::IrqEnable { thread }
            | Op::SoftirqDisable { thread }
            | Op::SoftirqEnable { thread }
            | Op::MightSleep { thread } => put("thread", json!(thread.0)),
            Op::Acquire {
                thread,
                lock,
                mode: md,
                try_,
                subclass,
                nest_lock,
                check,
            } => {
                put("thread", json!(thread.0));
                put("lock", json!(lock.0));
                put("mode", json!(mode(*md)));
                if *try_ {
                    put("try", json!(true));
                }
                if let Some(s) = subclass {
                    put("subclass", json!(s));
                }
                if let Some(n) = nest_lock {
                    put("nest_lock", json!(n.0));
                }
                if !check {
                    put("check", json!(false));
                }
            }
            Op::Release { thread, lock } => {
                put("thread", json!(thread.0));
                put("lock", json!(lock.0));
            }
            Op::MightAcquire {
                thread,
                lock,
                mode: md,
            } => {
                put("thread", json!(thread.0));
                put("lock", json!(lock.0));
                put("mode", json!(mode(*md)));
            }
            Op::Enter { thread, ctx: c } | Op::Leave { thread, ctx: c } => {
                put("thread", json!(thread.0));
                put("context", json!(ctx(*c)));
            }
            Op::Wait {
                thread,
                event,
                parked,
                timeout,
            } => {
                put("thread", json!(thread.0));
                put("event", json!(event.0));
                put("parked", json!(parked));
                put("timeout", json!(timeout));
            }
            Op::Signal { thread, event, all } => {
                put("thread", json!(thread.0));
                put("event", json!(event.0));
                put("all", json!(all));
            }
            Op::CondWait {
                thread,
                condvar,
                mutex,
                parked,
                timeout,
            } => {
                put("thread", json!(thread.0));
                put("condvar", json!(condvar.0));
                put("mutex", json!(mutex.0));
                put("parked", json!(parked));
                put("timeout", json!(timeout));
            }
            Op::Notify {
                thread,
                condvar,
                all,
            } => {
                put("thread", json!(thread.0));
                put("condvar", json!(condvar.0));
                put("all", json!(all));
            }
            Op::Inc { thread, counter } | Op::Dec { thread, counter } => {
                put("thread", json!(thread.0));
                put("counter", json!(counter.0));
            }
            Op::WaitZero {
                thread,
                counter,
                parked,
                timeout,
            } => {
                put("thread", json!(thread.0));
                put("counter", json!(counter.0));
                put("parked", json!(parked));
                put("timeout", json!(timeout));
            }
            Op::Send {
                thread,
                channel,
                parked,
                timeout,
            }
            | Op::Recv {
                thread,
                channel,
                parked,
                timeout,
            } => {
                put("thread", json!(thread.0));
                put("channel", json!(channel.0));
                put("parked", json!(parked));
                put("timeout", json!(timeout));
            }
            Op::Close { thread, channel } => {
                put("thread", json!(thread.0));
                put("channel", json!(channel.0));
            }
            Op::Queue {
                thread,
                work,
                queue,
            } => {
                put("thread", json!(thread.0));
                put("work", json!(work.0));
                put("queue", json!(queue.0));
            }
            Op::RunBegin { thread, work }
            | Op::RunEnd { thread, work }
            | Op::Flush { thread, work } => {
                put("thread", json!(thread.0));
                put("work", json!(work.0));
            }
            Op::FlushQueue { thread, queue } => {
                put("thread", json!(thread.0));
                put("queue", json!(queue.0));
            }
            Op::Defer {
                thread,
                item,
                produces,
            } => {
                put("thread", json!(thread.0));
                put("item", json!(item.0));
                let p: Vec<Value> = produces
                    .iter()
                    .map(|p| match p {
                        Produce::Signal(e) => json!({"signal": e.0}),
                        Produce::Dec(c) => json!({"dec": c.0}),
                    })
                    .collect();
                put("produces", Value::Array(p));
            }
            Op::FlushPoint { thread, kind } => {
                put("thread", json!(thread.0));
                match kind {
                    FlushKind::Base => put("kind", json!("base")),
                    FlushKind::Blocking => put("kind", json!("blocking")),
                    FlushKind::Transfer(to) => {
                        put("kind", json!("transfer"));
                        put("to", json!(to.0));
                    }
                }
            }
            Op::ObligationBegin { thread, event } | Op::ObligationEnd { thread, event } => {
                put("thread", json!(thread.0));
                put("event", json!(event.0));
            }
        }
        if let Some(s) = site(ev.site) {
            put("site", json!(s));
        }
        let frames = stack(ev.stack);
        if !frames.is_empty() {
            put("stack", json!(frames));
        }
        writeln!(self.out, "{}", Value::Object(m))
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
