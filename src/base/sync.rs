//! Locking shared state.

/// A poisoned lock means a thread panicked mid-update; the checkpoint protocol keeps
/// the store consistent regardless, so carry on with the data.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
