/*
 * A stub libnvidia-ml.so.1 for tests on machines without an NVIDIA driver.
 * Plain C, no dependencies. It exports the NVML entry points the engine uses,
 * with the real ABI (return codes, struct layouts, the _v2/_v3 variants), and
 * answers from a script file, so tests can drive every path of the loader.
 *
 * Build variants (compile definitions):
 *   (none)              modern driver: the _v2/_v3/EventReasons names AND the old ones
 *   BP_STUB_NO_V3       like modern, minus nvmlDeviceGetComputeRunningProcesses_v3
 *                       (exercises the _v2 process-list fallback)
 *   BP_STUB_LEGACY      old driver: only nvmlInit, nvmlDeviceGetCount,
 *                       nvmlDeviceGetHandleByIndex, nvmlDeviceGetMemoryInfo (v1),
 *                       nvmlDeviceGetCurrentClocksThrottleReasons,
 *                       nvmlDeviceGetComputeRunningProcesses (v1 layout) and
 *                       nvmlDeviceGetPowerManagementLimit (no EnforcedPowerLimit)
 *
 * SCRIPT FORMAT. The file named by $BACKPROP_STUB_NVML_SCRIPT is re-read on
 * every call (so a test may rewrite it while a monitor runs; write a temp file
 * and rename() it over the script for an atomic change). One `key=value` per
 * line; spaces around key and value are ignored; `#` starts a comment; the
 * last occurrence of a key wins; unknown keys are ignored. No file, or no
 * variable: init succeeds with 0 devices.
 *
 *   init=ok                   nvmlInit* succeeds (default)
 *   init=fail:12              nvmlInit* returns nvmlReturn_t 12
 *   devices=2                 nvmlDeviceGetCount* (default 0)
 *   <i>.name=Stub H200        nvmlDeviceGetName
 *   <i>.uuid=GPU-1234         nvmlDeviceGetUUID
 *   <i>.temp=45               nvmlDeviceGetTemperature(GPU), °C
 *   <i>.temp_shutdown=95      nvmlDeviceGetTemperatureThreshold(SHUTDOWN)
 *   <i>.temp_slowdown=90      nvmlDeviceGetTemperatureThreshold(SLOWDOWN)
 *   <i>.mem_total_mb=143771   nvmlDeviceGetMemoryInfo*: total/used/reserved in MiB
 *   <i>.mem_used_mb=1024        (free = total - used, minus reserved for _v2;
 *   <i>.mem_reserved_mb=0        memory is "not supported" unless total and used are set)
 *   <i>.power_mw=120000       nvmlDeviceGetPowerUsage, mW
 *   <i>.power_limit_mw=700000 nvmlDeviceGetEnforcedPowerLimit and PowerManagementLimit, mW
 *   <i>.util_gpu=30           nvmlDeviceGetUtilizationRates (supported only if util_gpu is set;
 *   <i>.util_mem=10             util_mem defaults to 0)
 *   <i>.clock_sm=1980         nvmlDeviceGetClockInfo(SM), MHz
 *   <i>.clock_mem=2619        nvmlDeviceGetClockInfo(MEM), MHz
 *   <i>.fan=NA                nvmlDeviceGetFanSpeed, percent
 *   <i>.throttle=0x44         nvmlDeviceGetCurrentClocks{Event,Throttle}Reasons bit mask
 *   <i>.procs=1234:2048,5678:512   compute processes, pid:MiB (empty value: no processes;
 *                                  pid:NA reports NVML_VALUE_NOT_AVAILABLE memory)
 *   <i>.fail=1                every per-device query except the handle lookup returns
 *   <i>.fail_code=15            fail_code (default 999 NVML_ERROR_UNKNOWN; 15 = GPU lost)
 *   <i>.handle_fail=6         nvmlDeviceGetHandleByIndex* returns that code
 *
 * A value may be a decimal or 0x-hex number, `NA` (NVML_ERROR_NOT_SUPPORTED,
 * also what a missing key gives), or `ERR:<code>` (that nvmlReturn_t).
 * Queries before nvmlInit (or after the matching nvmlShutdown) return
 * NVML_ERROR_UNINITIALIZED, like the real library.
 *
 * Test hooks (not NVML): bpStubNvmlCallCount("nvmlInit_v2") counts calls per
 * entry point; bpStubNvmlInitRefCount() is the init reference count.
 */
#define _POSIX_C_SOURCE 200809L  /* strtok_r */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId; } nvmlProcessInfo_t;
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;

enum {
  NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25, NVML_ERROR_UNKNOWN = 999
};
#define MEMORY_V2_VERSION ((unsigned)(sizeof(nvmlMemory_v2_t) | (2u << 24)))
#define MIB (1024ULL * 1024ULL)

/* ---- test hooks: call counters and init refcount ---- */
static const char* const kCounted[] = {
  "nvmlInit_v2", "nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount",
  "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMemoryInfo_v2",
  "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetComputeRunningProcesses_v3",
  "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses",
  "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
  "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetTemperature",
};
#define NCOUNTED (sizeof(kCounted) / sizeof(kCounted[0]))
static unsigned long g_calls[NCOUNTED];
static int g_initRef;

static void bump(const char* fn) {
  for (size_t i = 0; i < NCOUNTED; ++i)
    if (strcmp(kCounted[i], fn) == 0) { __atomic_fetch_add(&g_calls[i], 1, __ATOMIC_RELAXED); return; }
}
EXPORT unsigned long bpStubNvmlCallCount(const char* fn) {
  for (size_t i = 0; i < NCOUNTED; ++i)
    if (strcmp(kCounted[i], fn) == 0) return __atomic_load_n(&g_calls[i], __ATOMIC_RELAXED);
  return 0;
}
EXPORT int bpStubNvmlInitRefCount(void) { return __atomic_load_n(&g_initRef, __ATOMIC_RELAXED); }

/* ---- script lookup: the last `key=value` line for key, trimmed; 1 if found ---- */
static char* trim(char* s) {
  while (*s == ' ' || *s == '\t') ++s;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}
static int lookup(const char* key, char* out, size_t outSize) {
  const char* path = getenv("BACKPROP_STUB_NVML_SCRIPT");
  if (!path || !*path) return 0;
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    char* hash = strchr(line, '#');
    if (hash) *hash = 0;
    char* eq = strchr(line, '=');
    if (!eq) continue;
    *eq = 0;
    if (strcmp(trim(line), key) != 0) continue;
    snprintf(out, outSize, "%s", trim(eq + 1));
    found = 1;
  }
  fclose(f);
  return found;
}
/* Parses a numeric key: NVML_SUCCESS with *value, NOT_SUPPORTED (missing/NA), or ERR:<code>. */
static nvmlReturn_t number(const char* key, unsigned long long* value) {
  char v[256];
  if (!lookup(key, v, sizeof v) || strcmp(v, "NA") == 0 || !*v) return NVML_ERROR_NOT_SUPPORTED;
  if (strncmp(v, "ERR:", 4) == 0) return (nvmlReturn_t)strtol(v + 4, NULL, 0);
  *value = strtoull(v, NULL, 0);
  return NVML_SUCCESS;
}
static unsigned long long numberOr(const char* key, unsigned long long fallback) {
  unsigned long long v = fallback;
  return number(key, &v) == NVML_SUCCESS ? v : fallback;
}
static unsigned deviceCount(void) { return (unsigned)numberOr("devices", 0); }

/* Validates a handle and applies <i>.fail; on success *index is the device index. */
static nvmlReturn_t device(nvmlDevice_t dev, unsigned* index) {
  if (__atomic_load_n(&g_initRef, __ATOMIC_RELAXED) <= 0) return NVML_ERROR_UNINITIALIZED;
  uintptr_t i = (uintptr_t)dev;
  if (i == 0 || i > deviceCount()) return NVML_ERROR_INVALID_ARGUMENT;
  *index = (unsigned)(i - 1);
  char key[64];
  snprintf(key, sizeof key, "%u.fail", *index);
  if (numberOr(key, 0)) {
    snprintf(key, sizeof key, "%u.fail_code", *index);
    return (nvmlReturn_t)numberOr(key, NVML_ERROR_UNKNOWN);
  }
  return NVML_SUCCESS;
}
static nvmlReturn_t field(nvmlDevice_t dev, const char* name, unsigned long long* value) {
  unsigned i;
  nvmlReturn_t rc = device(dev, &i);
  if (rc != NVML_SUCCESS) return rc;
  char key[64];
  snprintf(key, sizeof key, "%u.%s", i, name);
  return number(key, value);
}
static nvmlReturn_t uintField(nvmlDevice_t dev, const char* name, unsigned int* out) {
  unsigned long long v = 0;
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = field(dev, name, &v);
  if (rc == NVML_SUCCESS) *out = (unsigned int)v;
  return rc;
}
static nvmlReturn_t stringField(nvmlDevice_t dev, const char* name, char* out, unsigned int length) {
  unsigned i;
  nvmlReturn_t rc = device(dev, &i);
  if (rc != NVML_SUCCESS) return rc;
  if (!out || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
  char key[64], v[256];
  snprintf(key, sizeof key, "%u.%s", i, name);
  if (!lookup(key, v, sizeof v) || strcmp(v, "NA") == 0) return NVML_ERROR_NOT_SUPPORTED;
  if (strncmp(v, "ERR:", 4) == 0) return (nvmlReturn_t)strtol(v + 4, NULL, 0);
  if (strlen(v) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, v, strlen(v) + 1);
  return NVML_SUCCESS;
}

/* ---- init / count / handle ---- */
static nvmlReturn_t doInit(void) {
  char v[64];
  if (lookup("init", v, sizeof v) && strncmp(v, "fail:", 5) == 0) return (nvmlReturn_t)strtol(v + 5, NULL, 0);
  __atomic_fetch_add(&g_initRef, 1, __ATOMIC_RELAXED);
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlInit(void) { bump("nvmlInit"); return doInit(); }
EXPORT nvmlReturn_t nvmlShutdown(void) {
  bump("nvmlShutdown");
  int ref = __atomic_load_n(&g_initRef, __ATOMIC_RELAXED);
  while (ref > 0 && !__atomic_compare_exchange_n(&g_initRef, &ref, ref - 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  return ref > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
}
EXPORT const char* nvmlErrorString(nvmlReturn_t rc) {
  switch (rc) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 12: return "Library Not Found";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    default: return "Unknown Error";
  }
}
static nvmlReturn_t doCount(unsigned int* n) {
  if (__atomic_load_n(&g_initRef, __ATOMIC_RELAXED) <= 0) return NVML_ERROR_UNINITIALIZED;
  if (!n) return NVML_ERROR_INVALID_ARGUMENT;
  *n = deviceCount();
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int* n) { bump("nvmlDeviceGetCount"); return doCount(n); }
static nvmlReturn_t doHandle(unsigned int index, nvmlDevice_t* dev) {
  if (__atomic_load_n(&g_initRef, __ATOMIC_RELAXED) <= 0) return NVML_ERROR_UNINITIALIZED;
  if (!dev || index >= deviceCount()) return NVML_ERROR_INVALID_ARGUMENT;
  char key[64];
  snprintf(key, sizeof key, "%u.handle_fail", index);
  unsigned long long code = numberOr(key, 0);
  if (code) return (nvmlReturn_t)code;
  *dev = (nvmlDevice_t)(uintptr_t)(index + 1);  /* opaque to the caller */
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t* d) {
  bump("nvmlDeviceGetHandleByIndex");
  return doHandle(i, d);
}

/* ---- per-device queries ---- */
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char* s, unsigned int n) { return stringField(d, "name", s, n); }
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char* s, unsigned int n) { return stringField(d, "uuid", s, n); }
EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int* t) {
  bump("nvmlDeviceGetTemperature");
  if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
  return uintField(d, "temp", t);
}
EXPORT nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t d, int type, unsigned int* t) {
  if (type == 0) return uintField(d, "temp_shutdown", t);
  if (type == 1) return uintField(d, "temp_slowdown", t);
  unsigned i;
  nvmlReturn_t rc = device(d, &i);
  return rc != NVML_SUCCESS ? rc : NVML_ERROR_NOT_SUPPORTED;
}
EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int* mw) { return uintField(d, "power_mw", mw); }
EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int* mw) {
  bump("nvmlDeviceGetPowerManagementLimit");
  return uintField(d, "power_limit_mw", mw);
}
EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t d, unsigned int* p) { return uintField(d, "fan", p); }
EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int* mhz) {
  if (type == 1) return uintField(d, "clock_sm", mhz);
  if (type == 2) return uintField(d, "clock_mem", mhz);
  unsigned i;
  nvmlReturn_t rc = device(d, &i);
  return rc != NVML_SUCCESS ? rc : NVML_ERROR_NOT_SUPPORTED;
}
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t* u) {
  unsigned int gpu = 0, mem = 0;
  if (!u) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = uintField(d, "util_gpu", &gpu);
  if (rc != NVML_SUCCESS) return rc;
  if (uintField(d, "util_mem", &mem) != NVML_SUCCESS) mem = 0;
  u->gpu = gpu;
  u->memory = mem;
  return NVML_SUCCESS;
}
static nvmlReturn_t doReasons(nvmlDevice_t d, unsigned long long* mask) {
  if (!mask) return NVML_ERROR_INVALID_ARGUMENT;
  return field(d, "throttle", mask);
}
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long* m) {
  bump("nvmlDeviceGetCurrentClocksThrottleReasons");
  return doReasons(d, m);
}
/* Memory: total and used must both be scripted. */
static nvmlReturn_t memory(nvmlDevice_t d, unsigned long long* total, unsigned long long* used,
                           unsigned long long* reserved) {
  nvmlReturn_t rc = field(d, "mem_total_mb", total);
  if (rc != NVML_SUCCESS) return rc;
  if ((rc = field(d, "mem_used_mb", used)) != NVML_SUCCESS) return rc;
  *reserved = 0;
  field(d, "mem_reserved_mb", reserved);
  *total *= MIB;
  *used *= MIB;
  *reserved *= MIB;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t* m) {
  bump("nvmlDeviceGetMemoryInfo");
  unsigned long long total = 0, used = 0, reserved = 0;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  nvmlReturn_t rc = memory(d, &total, &used, &reserved);
  if (rc != NVML_SUCCESS) return rc;
  /* v1 counts reserved memory as used, like the real driver. */
  m->total = total;
  m->used = used + reserved;
  m->free = total > used + reserved ? total - used - reserved : 0;
  return NVML_SUCCESS;
}
/* Parses "pid:MiB,pid:MiB" from <i>.procs into pids/mem (max entries); returns count or -rc. */
#define MAX_PROCS 64
static int processes(nvmlDevice_t d, unsigned* pids, unsigned long long* mem) {
  unsigned i;
  nvmlReturn_t rc = device(d, &i);
  if (rc != NVML_SUCCESS) return -rc;
  char key[64], v[1024];
  snprintf(key, sizeof key, "%u.procs", i);
  if (!lookup(key, v, sizeof v) || strcmp(v, "NA") == 0) return -NVML_ERROR_NOT_SUPPORTED;
  if (strncmp(v, "ERR:", 4) == 0) return -(int)strtol(v + 4, NULL, 0);
  int n = 0;
  char* save = NULL;  /* strtok_r: monitor threads may read concurrently */
  for (char* tok = strtok_r(v, ",", &save); tok && n < MAX_PROCS; tok = strtok_r(NULL, ",", &save)) {
    char* colon = strchr(tok, ':');
    pids[n] = (unsigned)strtoul(tok, NULL, 0);
    if (colon && strncmp(trim(colon + 1), "NA", 2) == 0) mem[n] = ~0ULL;
    else mem[n] = colon ? strtoull(colon + 1, NULL, 0) * MIB : 0;
    ++n;
  }
  return n;
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int* count,
                                                          nvmlProcessInfo_v1_t* infos) {
  bump("nvmlDeviceGetComputeRunningProcesses");
  unsigned pids[MAX_PROCS];
  unsigned long long mem[MAX_PROCS];
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  int n = processes(d, pids, mem);
  if (n < 0) return -n;
  if (*count < (unsigned)n) { *count = (unsigned)n; return NVML_ERROR_INSUFFICIENT_SIZE; }
  for (int k = 0; k < n; ++k) { infos[k].pid = pids[k]; infos[k].usedGpuMemory = mem[k]; }
  *count = (unsigned)n;
  return NVML_SUCCESS;
}

#ifndef BP_STUB_LEGACY
/* ---- newer entry points: absent from the legacy build ---- */
EXPORT nvmlReturn_t nvmlInit_v2(void) { bump("nvmlInit_v2"); return doInit(); }
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* n) { bump("nvmlDeviceGetCount_v2"); return doCount(n); }
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t* d) {
  bump("nvmlDeviceGetHandleByIndex_v2");
  return doHandle(i, d);
}
EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int* mw) {
  bump("nvmlDeviceGetEnforcedPowerLimit");
  return uintField(d, "power_limit_mw", mw);
}
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long* m) {
  bump("nvmlDeviceGetCurrentClocksEventReasons");
  return doReasons(d, m);
}
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t* m) {
  bump("nvmlDeviceGetMemoryInfo_v2");
  unsigned long long total = 0, used = 0, reserved = 0;
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  if (m->version != MEMORY_V2_VERSION) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  nvmlReturn_t rc = memory(d, &total, &used, &reserved);
  if (rc != NVML_SUCCESS) return rc;
  m->total = total;
  m->reserved = reserved;
  m->used = used;
  m->free = total > used + reserved ? total - used - reserved : 0;
  return NVML_SUCCESS;
}
static nvmlReturn_t processesV2(nvmlDevice_t d, unsigned int* count, nvmlProcessInfo_t* infos) {
  unsigned pids[MAX_PROCS];
  unsigned long long mem[MAX_PROCS];
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  int n = processes(d, pids, mem);
  if (n < 0) return -n;
  if (*count < (unsigned)n) { *count = (unsigned)n; return NVML_ERROR_INSUFFICIENT_SIZE; }
  for (int k = 0; k < n; ++k) {
    infos[k].pid = pids[k];
    infos[k].usedGpuMemory = mem[k];
    infos[k].gpuInstanceId = 0xFFFFFFFFu;  /* no MIG */
    infos[k].computeInstanceId = 0xFFFFFFFFu;
  }
  *count = (unsigned)n;
  return NVML_SUCCESS;
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int* c, nvmlProcessInfo_t* p) {
  bump("nvmlDeviceGetComputeRunningProcesses_v2");
  return processesV2(d, c, p);
}
#ifndef BP_STUB_NO_V3
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int* c, nvmlProcessInfo_t* p) {
  bump("nvmlDeviceGetComputeRunningProcesses_v3");
  return processesV2(d, c, p);
}
#endif
#endif
