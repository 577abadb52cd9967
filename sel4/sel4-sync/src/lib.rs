//! Locks for seL4 programs: a mutex whose waiters sleep on an seL4
//! notification, exposed through `lock_api` as [`Mutex`].
//!
//! The lock is a benaphore: an atomic count of holders plus waiters. An
//! uncontended lock or unlock is one atomic instruction and no system call;
//! a contended lock waits on the notification, and the unlocker signals it
//! once per waiter. Because a notification's signal is remembered until
//! someone waits, a signal that arrives before its waiter sleeps is not
//! lost. The notification is bound at run time (caps are not known at
//! compile time, and `lock_api` wants a `const INIT`); until then the lock
//! is a test-and-set lock that yields while it spins.
#![cfg_attr(not(test), no_std)]

use core::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use sel4::CPtr;

/// The raw lock: a holder/waiter count and the notification waiters sleep on.
pub struct RawNotificationMutex {
    /// Holders (0 or 1) plus waiters.
    count: AtomicIsize,
    /// Capability address of the notification; 0 until bound.
    notification: AtomicU64,
}

impl RawNotificationMutex {
    /// Binds the notification waiters sleep on. The caller owns the
    /// notification exclusively for this lock and binds it before a second
    /// thread can use the lock.
    pub fn bind(&self, notification: CPtr) {
        self.notification
            .store(notification.bits(), Ordering::Release);
    }

    fn wait(&self) {
        match self.notification.load(Ordering::Acquire) {
            0 => sel4_yield(),
            n => sel4_wait(CPtr::from_bits(n)),
        }
    }

    fn wake(&self) {
        match self.notification.load(Ordering::Acquire) {
            0 => {}
            n => sel4_signal(CPtr::from_bits(n)),
        }
    }
}

// SAFETY: `lock` returns to one holder at a time. Unbound, it takes the
// count from 0 to 1 by compare-exchange. Bound, it saw the count at 0, or
// it counted itself a waiter and sleeps until an unlock that saw a waiter
// signals: only the holder unlocks, and after such an unlock nobody holds
// the lock until a waiter consumes that one signal, so signals never pile
// up and each wakes one waiter (this needs the notification to be signalled
// by nothing but this lock, as `bind` requires). The count's Acquire and
// Release order the guarded data; a hand-over is ordered by the signal and
// wait system calls (asm without `nomem`). Any thread may unlock, so the
// guard may be Send.
unsafe impl lock_api::RawMutex for RawNotificationMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawNotificationMutex {
        count: AtomicIsize::new(0),
        notification: AtomicU64::new(0),
    };
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        if self.notification.load(Ordering::Acquire) == 0 {
            // Unbound: a test-and-set lock that yields while it spins, so
            // the count only ever reads 0 or 1.
            while !self.try_lock() {
                sel4_yield();
            }
            return;
        }
        if self.count.fetch_add(1, Ordering::Acquire) > 0 {
            // Contended: we are counted as a waiter; the holder's unlock
            // signals once for us, and the lock is then ours.
            self.wait();
        }
    }

    fn try_lock(&self) -> bool {
        self.count
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn unlock(&self) {
        if self.count.fetch_sub(1, Ordering::Release) > 1 {
            self.wake();
        }
    }
}

#[cfg(not(test))]
fn sel4_yield() {
    sel4::yield_now()
}
#[cfg(not(test))]
fn sel4_wait(n: CPtr) {
    sel4::wait(n);
}
#[cfg(not(test))]
fn sel4_signal(n: CPtr) {
    sel4::signal(n)
}
#[cfg(test)]
fn sel4_yield() {
    std::thread::yield_now()
}
#[cfg(test)]
fn sel4_wait(_: CPtr) {}
#[cfg(test)]
fn sel4_signal(_: CPtr) {}

/// A mutex whose waiters sleep on an seL4 notification.
pub type Mutex<T> = lock_api::Mutex<RawNotificationMutex, T>;
/// Its guard.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawNotificationMutex, T>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unbound_mutex_excludes() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let mut g = m.lock();
                        let v = *g;
                        std::hint::black_box(());
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 40_000);
    }

    #[test]
    fn try_lock_fails_while_held() {
        let m = Mutex::new(());
        let g = m.lock();
        assert!(m.try_lock().is_none());
        drop(g);
        assert!(m.try_lock().is_some());
    }
}
