#include "gpu_values.hpp"

#include <cmath>

#include "args.hpp"

namespace bpaddon {
namespace {

// A reading's fields are optional: absent or null means "not reported"; any
// other value must be of the field's type.
std::optional<double> optNumber(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return expectNumber(v, std::string("GPU reading field '") + key + "'");
}

std::optional<std::string> optString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return expectString(v, std::string("GPU reading field '") + key + "'");
}

// Thresholds are optional too, but a threshold that is not a number is a
// mistake worth reporting, not a default.
std::optional<double> optThreshold(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return expectNumber(v, std::string("GPU safety config field '") + key + "'");
}

void setOpt(Napi::Object& o, const char* key, const std::optional<double>& v) {
  o.Set(key, v ? Napi::Value(Napi::Number::New(o.Env(), *v)) : o.Env().Null());
}

void setNumberOrNull(Napi::Object& o, const char* key, double v) {
  o.Set(key, std::isnan(v) ? o.Env().Null() : Napi::Value(Napi::Number::New(o.Env(), v)));
}

}  // namespace

bp::GpuSafetyConfig parseGpuConfig(const Napi::Object& o) {
  bp::GpuSafetyConfig c;
  if (auto v = optThreshold(o, "tempWarning")) c.tempWarning = *v;
  if (auto v = optThreshold(o, "tempCritical")) c.tempCritical = *v;
  if (auto v = optThreshold(o, "tempEmergency")) c.tempEmergency = *v;
  if (auto v = optThreshold(o, "vramWarning")) c.vramWarning = *v;
  if (auto v = optThreshold(o, "vramCritical")) c.vramCritical = *v;
  if (auto v = optThreshold(o, "powerWarning")) c.powerWarning = *v;
  if (auto v = optThreshold(o, "powerCritical")) c.powerCritical = *v;
  return c;
}

bp::GpuReading parseGpuReading(const Napi::Object& o) {
  bp::GpuReading r;
  if (auto fail = optString(o, "fail")) {
    r.ok = false;
    r.error = *fail;
  }
  Napi::Value index = o.Get("deviceIndex");
  if (!index.IsUndefined() && !index.IsNull()) r.deviceIndex = expectInt32(index, "GPU reading field 'deviceIndex'");
  r.name = optString(o, "deviceName");
  r.uuid = optString(o, "uuid");
  r.temperatureC = optNumber(o, "temperatureC");
  r.temperatureMaxC = optNumber(o, "temperatureMaxC");
  r.temperatureSlowdownC = optNumber(o, "temperatureSlowdownC");
  r.vramTotalGb = optNumber(o, "vramTotalGb");
  r.vramUsedGb = optNumber(o, "vramUsedGb");
  r.vramFreeGb = optNumber(o, "vramFreeGb");
  if (!r.vramFreeGb && r.vramTotalGb && r.vramUsedGb) r.vramFreeGb = *r.vramTotalGb - *r.vramUsedGb;
  r.powerDrawW = optNumber(o, "powerDrawW");
  r.powerLimitW = optNumber(o, "powerLimitW");
  r.gpuUtilization = optNumber(o, "gpuUtilization");
  r.memoryUtilization = optNumber(o, "memoryUtilization");
  r.smClockMhz = optNumber(o, "smClockMhz");
  r.memClockMhz = optNumber(o, "memClockMhz");
  r.fanPercent = optNumber(o, "fanPercent");
  Napi::Value reasons = o.Get("throttleReasons");
  if (!reasons.IsUndefined() && !reasons.IsNull()) {
    std::vector<std::string> list;
    Napi::Array arr = expectArray(reasons, "GPU reading field 'throttleReasons'");
    for (uint32_t i = 0; i < arr.Length(); ++i)
      list.push_back(expectString(arr.Get(i), "GPU reading field 'throttleReasons[" + std::to_string(i) + "]'"));
    r.throttleReasons = std::move(list);
  }
  Napi::Value procs = o.Get("processes");
  if (!procs.IsUndefined() && !procs.IsNull()) {
    std::vector<bp::GpuProcess> list;
    Napi::Array arr = expectArray(procs, "GPU reading field 'processes'");
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string what = "GPU reading field 'processes[" + std::to_string(i) + "]'";
      Napi::Object p = expectObject(arr.Get(i), what);
      bp::GpuProcess gp;
      Napi::Value pid = p.Get("pid");
      gp.pid = pid.IsUndefined() || pid.IsNull() ? 0 : expectUint32(pid, what + ".pid");
      gp.usedMemoryMb = optNumber(p, "usedMemoryMb").value_or(NAN);
      list.push_back(gp);
    }
    r.processes = std::move(list);
  }
  return r;
}

Napi::Object sampleToJs(Napi::Env env, const bp::GpuSample& s) {
  const bp::GpuReading& r = s.reading;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", r.ok);
  o.Set("error", r.error);
  o.Set("deviceIndex", r.deviceIndex);
  o.Set("deviceName", r.name ? Napi::Value(Napi::String::New(env, *r.name)) : env.Null());
  o.Set("uuid", r.uuid ? Napi::Value(Napi::String::New(env, *r.uuid)) : env.Null());
  setOpt(o, "temperatureC", r.temperatureC);
  setOpt(o, "temperatureMaxC", r.temperatureMaxC);
  setOpt(o, "temperatureSlowdownC", r.temperatureSlowdownC);
  setOpt(o, "vramTotalGb", r.vramTotalGb);
  setOpt(o, "vramUsedGb", r.vramUsedGb);
  setOpt(o, "vramFreeGb", r.vramFreeGb);
  setNumberOrNull(o, "vramPercent", s.evaluation.vramPercent);
  setOpt(o, "powerDrawW", r.powerDrawW);
  setOpt(o, "powerLimitW", r.powerLimitW);
  setNumberOrNull(o, "powerPercent", s.evaluation.powerPercent);
  setOpt(o, "gpuUtilization", r.gpuUtilization);
  setOpt(o, "memoryUtilization", r.memoryUtilization);
  setOpt(o, "smClockMhz", r.smClockMhz);
  setOpt(o, "memClockMhz", r.memClockMhz);
  setOpt(o, "fanPercent", r.fanPercent);
  if (r.throttleReasons) {
    Napi::Array a = Napi::Array::New(env, r.throttleReasons->size());
    for (size_t i = 0; i < r.throttleReasons->size(); ++i) a.Set(static_cast<uint32_t>(i), (*r.throttleReasons)[i]);
    o.Set("throttleReasons", a);
  } else {
    o.Set("throttleReasons", env.Null());
  }
  if (r.processes) {
    Napi::Array a = Napi::Array::New(env, r.processes->size());
    for (size_t i = 0; i < r.processes->size(); ++i) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("pid", (*r.processes)[i].pid);
      setNumberOrNull(p, "usedMemoryMb", (*r.processes)[i].usedMemoryMb);
      a.Set(static_cast<uint32_t>(i), p);
    }
    o.Set("processes", a);
  } else {
    o.Set("processes", env.Null());
  }
  o.Set("condition", bp::gpuConditionName(s.evaluation.condition));
  o.Set("conditionReason", s.evaluation.reason);
  o.Set("timestamp", r.timestampMs);
  o.Set("consecutiveFailures", s.consecutiveFailures);
  o.Set("recovered", s.recovered);
  o.Set("afterFailures", s.afterFailures);
  o.Set("sequence", static_cast<double>(s.sequence));
  return o;
}

}  // namespace bpaddon
