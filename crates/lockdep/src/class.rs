//! Lock classes: by creation site by default, or named.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};

use lockdep_core::{ObjId, ObjKind};
use parking_lot::Mutex as PlMutex;

use crate::state;

/// A named lock class: every lock created with it is one class in the validator.
///
/// Declare it with [`class!`](crate::class!) and pass it to `with_class`.
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

    /// The class name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where the class was defined (its key).
    pub fn site(&self) -> &'static Location<'static> {
        self.site
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

/// Named classes by the address of their definition site (a lock stores only that pointer, to
/// stay within 16 bytes of the lock it wraps).
static NAMED: PlMutex<Option<HashMap<usize, &'static str>>> = PlMutex::new(None);

pub(crate) fn register(class: &'static LockClass) {
    NAMED
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(class.site as *const Location<'static> as usize, class.name);
}

fn class_name(site: &'static Location<'static>) -> String {
    if let Some(map) = NAMED.lock().as_ref()
        && let Some(name) = map.get(&(site as *const Location<'static> as usize))
    {
        return (*name).to_owned();
    }
    format!("{}:{}:{}", site.file(), site.line(), site.column())
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
    pub(crate) fn obj(&self, site: &'static Location<'static>, kind: ObjKind) -> ObjId {
        let v = self.obj.load(Ordering::Acquire);
        if v != 0 {
            return ObjId(v - 1);
        }
        self.declare(site, kind)
    }

    #[cold]
    fn declare(&self, site: &'static Location<'static>, kind: ObjKind) -> ObjId {
        let id = state::new_object(kind, &class_name(site), 0);
        match self
            .obj
            .compare_exchange(0, id.0 + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => id,
            Err(other) => {
                // Another thread declared it first: give ours back.
                state::drop_object(id);
                ObjId(other - 1)
            }
        }
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
