//! A problem's signature depends only on its kind and classes: two traces of the same bug
//! that declare the same classes but use other object ids, thread ids and another order of
//! the independent threads' steps (other timing) give the same signatures.

use std::collections::BTreeSet;

use lockdep_trace::Replayer;

fn signatures(name: &str, text: &str) -> BTreeSet<String> {
    let mut r = Replayer::new();
    r.read(name, text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let sigs: BTreeSet<String> = r
        .engine
        .reports()
        .iter()
        .map(|x| x.signature.clone())
        .collect();
    assert!(!sigs.is_empty(), "{name}: nothing reported");
    sigs
}

#[test]
fn same_bug_same_signatures_whatever_the_ids_and_the_timing() {
    // The three-lock cycle of seed b, as its scenario has it.
    let a = r#"{"lockdep_trace": 1}
{"op": "new", "id": "INVAL", "type": "rwlock", "class": "mapping.invalidate_lock"}
{"op": "new", "id": "SBW", "type": "rwlock", "class": "sb_writers"}
{"op": "new", "id": "MM", "type": "rwlock", "class": "&mm->mmap_lock"}
{"op": "acquire", "thread": "R", "lock": "INVAL", "mode": "read"}
{"op": "acquire", "thread": "R", "lock": "SBW", "mode": "read"}
{"op": "release", "thread": "R", "lock": "SBW"}
{"op": "release", "thread": "R", "lock": "INVAL"}
{"op": "acquire", "thread": "X", "lock": "SBW", "mode": "read"}
{"op": "might_acquire", "thread": "X", "lock": "MM", "mode": "read"}
{"op": "release", "thread": "X", "lock": "SBW"}
{"op": "acquire", "thread": "F", "lock": "MM", "mode": "read"}
{"op": "acquire", "thread": "F", "lock": "INVAL", "mode": "read"}
{"op": "release", "thread": "F", "lock": "INVAL"}
{"op": "release", "thread": "F", "lock": "MM"}
"#;
    // The same bug in another run: other object and thread ids, objects declared in another
    // order, the threads' sections interleaved differently (the fault path first, the
    // readpage path's steps split around the others).
    let b = r#"{"lockdep_trace": 1}
{"op": "new", "id": "o7", "type": "rwlock", "class": "&mm->mmap_lock"}
{"op": "new", "id": "o3", "type": "rwlock", "class": "sb_writers"}
{"op": "new", "id": "o12", "type": "rwlock", "class": "mapping.invalidate_lock"}
{"op": "acquire", "thread": "kworker/2:1", "lock": "o7", "mode": "read"}
{"op": "acquire", "thread": "reader-44", "lock": "o12", "mode": "read"}
{"op": "acquire", "thread": "kworker/2:1", "lock": "o12", "mode": "read"}
{"op": "release", "thread": "kworker/2:1", "lock": "o12"}
{"op": "release", "thread": "kworker/2:1", "lock": "o7"}
{"op": "acquire", "thread": "reader-44", "lock": "o3", "mode": "read"}
{"op": "release", "thread": "reader-44", "lock": "o3"}
{"op": "release", "thread": "reader-44", "lock": "o12"}
{"op": "acquire", "thread": "attr-9", "lock": "o3", "mode": "read"}
{"op": "might_acquire", "thread": "attr-9", "lock": "o7", "mode": "read"}
{"op": "release", "thread": "attr-9", "lock": "o3"}
"#;
    assert_eq!(signatures("a.jsonl", a), signatures("b.jsonl", b));
}
