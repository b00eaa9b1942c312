/* Lock-held assertions for the leaf locks, in the unit tests' build of
 * lib/ only (WC_CHECK_LOCKS, Makefile.am); nothing in the filter's.
 *
 * The engine's lock records its holder (engine.h, WC_LOCK_HELD).  A leaf
 * lock does not: a trylock that fails shows that some thread holds it, not
 * that the caller does, which still catches a _locked function called
 * with the lock free. */
#ifndef WC_LOCKCHECK_H
#define WC_LOCKCHECK_H

#include <pthread.h>

#include <glib.h>

#ifdef WC_CHECK_LOCKS
#define WC_MUTEX_HELD(m) g_assert (pthread_mutex_trylock (m) != 0)
#define WC_RWLOCK_WRITE_HELD(l) g_assert (pthread_rwlock_trywrlock (l) != 0)
#else
#define WC_MUTEX_HELD(m) ((void) (m))
#define WC_RWLOCK_WRITE_HELD(l) ((void) (l))
#endif

#endif /* WC_LOCKCHECK_H */
