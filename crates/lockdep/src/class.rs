//! Lock classes: by creation site by default, or named.

use std::panic::Location;

#[cfg(lockdep_enabled)]
pub(crate) use meta::{Meta, class_name};

/// A named lock class: every lock created with it is one class in the validator.
///
/// The class is this value itself (its address): declare a `static` one with
/// [`class!`](crate::class!) and pass it to `with_class`, or make one at run time with
/// [`LockClass::leak`] (lockdep's `lockdep_register_key`), e.g. one class per table of a
/// database. The validator names the class by [`name`](LockClass::name): give distinct
/// classes distinct names, as reports and traces know them by it.
#[derive(Debug)]
pub struct LockClass {
    name: &'static str,
    site: &'static Location<'static>,
}

impl LockClass {
    /// A class named `name` (use [`class!`](crate::class!) to get a `&'static` one).
    #[track_caller]
    pub const fn new(name: &'static str) -> Self {
        LockClass {
            name,
            site: Location::caller(),
        }
    }

    /// A new class made at run time, leaked (it lives as long as the process, like
    /// lockdep's registered keys): every call is a distinct class.
    #[track_caller]
    pub fn leak(name: impl Into<String>) -> &'static LockClass {
        let name: &'static str = Box::leak(name.into().into_boxed_str());
        Box::leak(Box::new(LockClass::new(name)))
    }

    /// The class name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where the class was defined.
    pub fn site(&self) -> &'static Location<'static> {
        self.site
    }
}

/// A lock class made at run time and forgotten when dropped (lockdep's
/// `lockdep_register_key` / `lockdep_unregister_key`), for classes that come and go: one per
/// open table, per connection, per mounted filesystem. Dropping the key removes the class's
/// dependencies, usage and cached chains from the validator, and its name (`NAME#slot`) and
/// memory are reused by the next key of the same name, so the validator's memory follows the
/// live classes rather than every class ever made.
///
/// Drop every lock of the class before its key: a key dropped while a lock of its class is
/// alive leaves the class in place (and its slot unused from then on). So does a key
/// dropped while a trace is being recorded (a trace has no op for forgetting a class), or
/// one whose class lies on a reported gated cycle.
///
/// ```
/// let key = lockdep::ClassKey::new("conn");
/// let m = lockdep::Mutex::with_class(0u32, key.class());
/// *m.lock() += 1;
/// drop(m);
/// drop(key); // forgotten: the next `ClassKey::new("conn")` starts afresh
/// ```
#[derive(Debug)]
pub struct ClassKey {
    class: &'static LockClass,
    base: String,
}

/// Per base name: how many slots were made, and the free ones (their classes).
type Pool = std::collections::HashMap<String, (u32, Vec<&'static LockClass>)>;
static POOL: std::sync::Mutex<Option<Pool>> = std::sync::Mutex::new(None);

impl ClassKey {
    /// A new class named `name#N`, `N` a slot of that name that no live key has (a new one
    /// when every slot is taken).
    #[track_caller]
    pub fn new(name: &str) -> ClassKey {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        let (made, free) = pool
            .get_or_insert_with(Default::default)
            .entry(name.to_owned())
            .or_default();
        let class = free.pop().unwrap_or_else(|| {
            *made += 1;
            LockClass::leak(format!("{name}#{}", *made - 1))
        });
        ClassKey {
            class,
            base: name.to_owned(),
        }
    }

    /// The class, for `with_class`.
    pub fn class(&self) -> &'static LockClass {
        self.class
    }
}

impl Drop for ClassKey {
    fn drop(&mut self) {
        #[cfg(lockdep_enabled)]
        let reusable = crate::state::forget_class(self.class.name);
        #[cfg(not(lockdep_enabled))]
        let reusable = true;
        if reusable {
            let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, free)) = pool.as_mut().and_then(|p| p.get_mut(&self.base)) {
                free.push(self.class);
            }
        }
    }
}

/// A `&'static LockClass` named by a string literal, e.g.
/// `Mutex::with_class(0, lockdep::class!("inode->i_rwsem"))`.
#[macro_export]
macro_rules! class {
    ($name:expr) => {{
        static CLASS: $crate::LockClass = $crate::LockClass::new($name);
        &CLASS
    }};
}

/// Object ids of the locks (compiled in only with validation).
#[cfg(lockdep_enabled)]
mod meta {
    use std::sync::atomic::{AtomicU32, Ordering};

    use lockdep_core::{ObjId, ObjKind};

    use crate::hooks::{ClassRef, Site};
    use crate::state;

    /// The validator's name of a lock's class: the named class's name, else the creation site.
    pub(crate) fn class_name(site: Site) -> String {
        match site.get() {
            ClassRef::Named(c) => c.name.to_owned(),
            ClassRef::Location(l) => format!("{}:{}:{}", l.file(), l.line(), l.column()),
        }
    }

    /// A lock's object id in the validator, assigned on first use (`0` = none yet). The lock
    /// keeps its class key (a `&'static Location`) beside it, so both cost 12 bytes.
    #[derive(Debug)]
    pub(crate) struct Meta {
        obj: AtomicU32,
    }

    impl Meta {
        /// No object yet.
        pub(crate) const fn new() -> Self {
            Meta {
                obj: AtomicU32::new(0),
            }
        }

        /// The object id, declaring the object (class from `site`) on first use.
        #[inline]
        pub(crate) fn obj(&self, site: Site, kind: ObjKind) -> ObjId {
            let v = self.obj.load(Ordering::Acquire);
            if v != 0 {
                return ObjId(v - 1);
            }
            self.declare(site, kind, None)
        }

        /// [`obj`](Meta::obj) for a bounded object (a work queue's `max_active`).
        pub(crate) fn obj_bounded(&self, site: Site, kind: ObjKind, capacity: u32) -> ObjId {
            let v = self.obj.load(Ordering::Acquire);
            if v != 0 {
                return ObjId(v - 1);
            }
            self.declare(site, kind, Some(capacity))
        }

        #[cold]
        fn declare(&self, site: Site, kind: ObjKind, capacity: Option<u32>) -> ObjId {
            ObjId(crate::proto::registry::get_or_declare(
                &self.obj,
                || state::new_object(kind, &class_name(site), 0, capacity).0,
                // Another thread declared it first: ours is given back.
                |id| state::drop_object(ObjId(id)),
            ))
        }
    }

    impl Drop for Meta {
        fn drop(&mut self) {
            let v = *self.obj.get_mut();
            if v != 0 {
                state::drop_object(ObjId(v - 1));
            }
        }
    }
}
