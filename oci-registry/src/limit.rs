//! A small counting semaphore: the per-host limit on parallel transfers.

use std::sync::{Arc, Condvar, Mutex};

/// At most `permits` holders at once; [`Semaphore::acquire`] waits for a free one.
#[derive(Debug)]
pub struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot of a [`Semaphore`], given back on drop.
#[derive(Debug)]
pub struct Permit {
    semaphore: Arc<Semaphore>,
}

impl Semaphore {
    /// A semaphore with `permits` slots (at least one).
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            free: Mutex::new(permits.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a slot.
    pub fn acquire(semaphore: &Arc<Semaphore>) -> Permit {
        let mut free = semaphore.free.lock().expect("lock");
        while *free == 0 {
            free = semaphore.freed.wait(free).expect("lock");
        }
        *free -= 1;
        Permit {
            semaphore: semaphore.clone(),
        }
    }

    /// A slot if one is free now.
    pub fn try_acquire(semaphore: &Arc<Semaphore>) -> Option<Permit> {
        let mut free = semaphore.free.lock().expect("lock");
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Permit {
            semaphore: semaphore.clone(),
        })
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        *self.free.lock().expect("lock")
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut free = self.semaphore.free.lock().expect("lock");
        *free += 1;
        self.semaphore.freed.notify_one();
    }
}
