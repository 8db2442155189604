//! Waiting for something to become true: one polling loop for every test.

use std::time::{Duration, Instant};

/// Polls `probe` every `every` until it gives a value or `timeout` passes (the last
/// probe runs at or after the deadline, so a slow probe still gets its chance).
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Polls `done` every `every` until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    wait_for(timeout, every, || done().then_some(())).is_some()
}
