// The loaded NVML library, shared by its loader (nvml_library.cpp) and its
// reader (nvml_reading.cpp): the entry points found by dlsym, and the one
// process-wide state they live in. Internal to the engine; the contract is
// nvml.hpp.
//
// Locking: State::mu guards the loaded library. Reads hold it shared (NVML
// itself is thread-safe, so monitor threads read in parallel); init, reset
// and the exit-time shutdown hold it exclusively, so the library is never
// unloaded under a read in flight.
#pragma once
#include <shared_mutex>
#include <string>

#include "nvml.hpp"

namespace bp::nvml_library {

using namespace nvml;

// Function pointer types of the NVML entry points we use.
using FnVoid = nvmlReturn_t (*)();
using FnErrorString = const char* (*)(nvmlReturn_t);
using FnCount = nvmlReturn_t (*)(unsigned int*);
using FnHandle = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
using FnString = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
using FnUintBySensor = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned int*);
using FnUint = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using FnUll = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
using FnMemV1 = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
using FnMemV2 = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*);
using FnUtil = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
using FnProcs = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, void*);  // layout per version

struct Api {
  FnVoid init = nullptr;
  const char* initName = "";
  FnVoid shutdown = nullptr;
  FnErrorString errorString = nullptr;
  FnCount getCount = nullptr;
  FnHandle getHandle = nullptr;
  FnString getName = nullptr, getUuid = nullptr;
  FnUintBySensor getTemperature = nullptr, getTemperatureThreshold = nullptr, getClockInfo = nullptr;
  FnUint getPowerUsage = nullptr, getPowerLimit = nullptr, getPowerLimitFallback = nullptr;
  FnUint getFanSpeed = nullptr;
  FnUtil getUtilization = nullptr;
  FnMemV2 getMemoryV2 = nullptr;
  FnMemV1 getMemoryV1 = nullptr;
  FnProcs getProcesses = nullptr;
  int processesVersion = 0;  // 1: nvmlProcessInfo_v1_t layout; 2/3: nvmlProcessInfo_t
  FnUll getClockReasons = nullptr;
};

struct State {
  std::shared_mutex mu;
  bool attempted = false;  // an init ran (its result is cached below)
  bool available = false;
  std::string reason, libraryPath;
  void* handle = nullptr;
  Api api;
  bool exitHandlerRegistered = false;
};

// The process-wide state (never destroyed; see nvml_library.cpp).
State& state();

// NVML's text for `rc`, or "NVML error <rc>" when the library gives none.
std::string errorText(const Api& api, nvmlReturn_t rc);

}  // namespace bp::nvml_library
