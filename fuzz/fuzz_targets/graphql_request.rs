//! Bytes as the body of `POST /graphql` (or, after a NUL byte, as its GraphQL text): JSON parsing, the cost check, validation and
//! execution against a SQLite database with the demo data, built once per process.
#![no_main]

use std::sync::OnceLock;

use baton::http::probe::Probe;
use libfuzzer_sys::fuzz_target;

struct Harness {
    runtime: tokio::runtime::Runtime,
    probe: Probe,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let probe = runtime.block_on(Probe::start(dir.path())).expect("probe");
        Harness { runtime, probe, _dir: dir }
    })
}

fuzz_target!(|input: &[u8]| {
    let harness = harness();
    let body = Probe::body_for(input);
    if let Err(finding) = harness.runtime.block_on(harness.probe.send(&body)) {
        panic!("{finding}");
    }
});
