/* Shift the wall clock (CLOCK_REALTIME, gettimeofday, time) by SHIFT_SECONDS for one process
 * tree, leaving the monotonic clock and sleeps alone (libfaketime breaks time.sleep here).
 * Used to find tests that depend on today's date:
 *   gcc -shared -fPIC -O2 -o /tmp/libshift.so benchmarks/clock_shift.c -ldl
 *   SHIFT_SECONDS=$((86400*1000)) LD_PRELOAD=/tmp/libshift.so pytest -q
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
static long offset(void){ const char*s=getenv("SHIFT_SECONDS"); return s?atol(s):0; }
int clock_gettime(clockid_t id, struct timespec *tp){
  static int (*real)(clockid_t, struct timespec*)=0;
  if(!real) real=dlsym(RTLD_NEXT,"clock_gettime");
  int r=real(id,tp);
  if(r==0 && (id==CLOCK_REALTIME||id==CLOCK_REALTIME_COARSE)) tp->tv_sec+=offset();
  return r;
}
int gettimeofday(struct timeval *tv, void *tz){
  struct timespec ts; clock_gettime(CLOCK_REALTIME,&ts);
  if(tv){tv->tv_sec=ts.tv_sec; tv->tv_usec=ts.tv_nsec/1000;}
  return 0;
}
time_t time(time_t *t){ struct timespec ts; clock_gettime(CLOCK_REALTIME,&ts); if(t)*t=ts.tv_sec; return ts.tv_sec; }
