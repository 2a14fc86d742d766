// Conversions between GPU readings/samples and JS objects.
#pragma once
#include <napi.h>

#include "gpu_condition.hpp"
#include "gpu_monitor.hpp"
#include "nvml.hpp"

namespace bpaddon {

bp::GpuSafetyConfig parseGpuConfig(const Napi::Object& o);
bp::GpuReading parseGpuReading(const Napi::Object& o);
// A GPUStatus-shaped object plus monitor bookkeeping (ok, error, failures).
Napi::Object sampleToJs(Napi::Env env, const bp::GpuSample& s);

}  // namespace bpaddon
